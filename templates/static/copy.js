// The pages' one script, an enhancement only: without JavaScript the values stay on the page, selectable,
// and the browser checks the address field itself (type="email"). Two things here: the copy buttons, and
// the hint for an address typed without its domain.
"use strict";

function setUpCopyButtons() {
  if (!navigator.clipboard) {
    return;
  }
  const status = document.getElementById("copy-status");
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
      } catch (error) {
        button.hidden = true;
        return;
      }
      button.textContent = button.dataset.done;
      setTimeout(() => { button.textContent = label; }, 2000);
      if (status) {
        // Emptied first: screen readers announce a change of the live region, and the same word set
        // again after a second copy would be no change.
        status.textContent = "";
        setTimeout(() => { status.textContent = button.dataset.done; }, 100);
      }
    });
  }
}

function setUpAddressHint() {
  const field = document.getElementById("email");
  const hint = document.getElementById("email-domain");
  if (!field || !hint) {
    return;
  }
  const message = hint.textContent.trim();
  const described = field.getAttribute("aria-describedby") || "";
  const isBare = () => {
    const value = field.value.trim();
    return value !== "" && !value.includes("@");
  };
  // Shown when the person leaves the field or sends the form, not at the first letter typed; hidden as
  // soon as the "@" is there. The browser's own message on sending says the same words.
  const update = (show) => {
    const bare = isBare();
    field.setCustomValidity(bare ? message : "");
    if (show || !bare) {
      hint.hidden = !bare;
      field.setAttribute("aria-describedby", bare ? `${described} email-domain` : described);
    }
  };
  field.addEventListener("input", () => update(false));
  field.addEventListener("blur", () => update(true));
  field.addEventListener("invalid", () => update(true));
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  setUpAddressHint();
});
