// After a step arrives by HTMX, messages of the previous page (in the top bar) are stale.
document.addEventListener("htmx:afterSwap", function (event) {
  if (event.detail.target.id === "wizard") {
    document.querySelectorAll("#messages > .messages").forEach(function (list) { list.remove(); });
  }
});
