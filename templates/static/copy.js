// Copy buttons: an enhancement. Without JavaScript the values stay on the page, selectable.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) {
    return;
  }
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    const label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = button.dataset.done;
        setTimeout(() => { button.textContent = label; }, 2000);
      } catch (error) {
        button.hidden = true;
      }
    });
  }
});
