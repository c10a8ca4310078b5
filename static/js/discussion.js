// Drag and drop onto a record's "Attach a file" form: the dropped file goes into the form's
// file input and the form is submitted as if the button were pressed (htmx posts it). Bound
// on the document, since the panel is swapped in and out by htmx.
(function () {
  "use strict";
  function zone(event) {
    return event.target instanceof Element ? event.target.closest("[data-dropzone]") : null;
  }
  document.addEventListener("dragover", function (event) {
    var form = zone(event);
    if (!form) return;
    event.preventDefault();
    form.classList.add("dragging");
  });
  document.addEventListener("dragleave", function (event) {
    var form = zone(event);
    if (form) form.classList.remove("dragging");
  });
  document.addEventListener("drop", function (event) {
    var form = zone(event);
    if (!form || !event.dataTransfer || !event.dataTransfer.files.length) return;
    event.preventDefault();
    form.classList.remove("dragging");
    var input = form.querySelector('input[type="file"]');
    input.files = event.dataTransfer.files;
    // A form swapped in a moment ago may not be htmx's yet: process it (a no-op when it is),
    // so the file is posted by htmx into the drawer, not by a page-replacing submit.
    if (window.htmx) window.htmx.process(form);
    form.requestSubmit();
  });
})();
