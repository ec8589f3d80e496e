// The iPhone/iPad guide's profile button, an enhancement only: without JavaScript it stays a plain link.
// iOS keeps one downloaded profile at a time (a second download replaces the first) and deletes it after
// 8 minutes: once the download has started, the button gives way to what to do next, so that one page
// view starts one download. Reloading the page brings the button back.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const link = document.getElementById("profile-download");
  const status = document.getElementById("profile-status");
  if (!link || !status) {
    return;
  }
  let used = false;
  link.addEventListener("click", (event) => {
    if (used) {
      // A second tap before the button is gone (a double tap): no second download.
      event.preventDefault();
      return;
    }
    used = true;
    // After this click's own default action, which starts the download: the link loses its address,
    // leaves the page, and the next step takes its place and the focus.
    setTimeout(() => {
      link.removeAttribute("href");
      link.hidden = true;
      status.textContent = status.dataset.done;
      status.focus();
    }, 0);
  });
});
