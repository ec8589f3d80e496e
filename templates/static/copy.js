// The pages' one script, an enhancement only: without JavaScript the values stay on the page, selectable,
// and the browser checks the address field itself (type="email"). Two things here: the copy buttons, and
// the hint for an address typed without its domain (or a login typed instead of it).
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

// What people type instead of an address: a login or a first name, with no dot (pages.looks_like_login).
const LOGIN_LIKE = /^\p{L}+(?:['-]\p{L}+)*[0-9]*$/u;

// Lower case without accents, as the provider's form is matched on the server (settings/login.py).
function fold(text) {
  return text.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase();
}

// The provider's forms (its people's, and the other right ones) as the script can compile them; a
// pattern only Python reads is left out.
function formPatterns(hint) {
  const patterns = [];
  for (const pattern of JSON.parse(hint.dataset.forms || "[]")) {
    try {
      patterns.push(new RegExp(`^(?:${pattern})$`, "u"));
    } catch (error) {
      continue;
    }
  }
  return patterns;
}

function setUpAddressHint() {
  const field = document.getElementById("email");
  const domainHint = document.getElementById("email-domain");
  if (!field || !domainHint) {
    return;
  }
  // The login hint exists when the provider states the form of its addresses. What was typed goes in
  // its slot as text, quoted as the login it looks like, never made into an address.
  const loginHint = document.getElementById("email-login");
  const slot = loginHint ? loginHint.querySelector(".typed") : null;
  const forms = loginHint ? formPatterns(loginHint) : [];
  const textBeside = (node) => (node ? node.textContent : "");
  const around = slot ? [textBeside(slot.previousSibling), textBeside(slot.nextSibling)] : ["", ""];
  const described = field.getAttribute("aria-describedby") || "";
  const hintFor = (value) => {
    if (value === "" || value.includes("@")) {
      return null;
    }
    const login = slot && value.length <= 64 && LOGIN_LIKE.test(value);
    return login && !forms.some((form) => form.test(fold(value))) ? loginHint : domainHint;
  };
  // Shown when the person leaves the field or sends the form, not at the first letter typed; hidden as
  // soon as the "@" is there. The browser's own message on sending says the same words.
  const update = (show) => {
    const value = field.value.trim();
    const hint = hintFor(value);
    let message = "";
    if (hint === loginHint) {
      message = around[0] + value + around[1];
    } else if (hint === domainHint) {
      message = domainHint.textContent.trim();
    }
    field.setCustomValidity(message);
    if (show || hint === null) {
      if (hint === loginHint) {
        slot.textContent = value;
      }
      for (const each of [domainHint, loginHint]) {
        if (each) {
          each.hidden = each !== hint;
        }
      }
      field.setAttribute("aria-describedby", hint === null ? described : `${described} ${hint.id}`);
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
