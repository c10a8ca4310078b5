// After a step arrives by HTMX, messages of the previous page (in the top bar) are stale.
document.addEventListener("htmx:afterSwap", function (event) {
  if (event.detail.target.id === "wizard") {
    document.querySelectorAll("#messages > .messages").forEach(function (list) { list.remove(); });
  }
});

// A step revisited offers ← Back, Next → and the progress links; following one of them
// after editing the step's form would drop the edits without a word. Ask first.
(function () {
  var saved = new WeakMap();

  function snapshot(form) {
    return new URLSearchParams(new FormData(form)).toString();
  }

  function remember() {
    document.querySelectorAll("#wizard .wizard-step form").forEach(function (form) {
      saved.set(form, snapshot(form));
    });
  }

  function hasUnsavedEdits() {
    return Array.prototype.some.call(
      document.querySelectorAll("#wizard .wizard-step form"),
      function (form) { return saved.has(form) && saved.get(form) !== snapshot(form); }
    );
  }

  document.addEventListener("DOMContentLoaded", remember);
  document.addEventListener("htmx:afterSettle", remember);
  // Capture phase: runs before HTMX's boosted-link handler, so a "Stay" stops the swap.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest(
      "#wizard .wizard-nav a, #wizard .wizard-progress a"
    );
    if (!link || !hasUnsavedEdits()) { return; }
    if (!window.confirm("This step has changes you have not saved. Leave without saving them?")) {
      event.preventDefault();
      event.stopPropagation();
    }
  }, true);
})();
