// Status mapping boards: drag a Rally state onto another aharally status (SortableJS).
// Each drop is saved at once with the same POST the keyboard's selects use; the server
// answers with the board re-rendered, which htmx swaps in (and onLoad wires up again).
(function () {
  "use strict";

  function wire(board) {
    var url = board.dataset.assignUrl;
    if (!url || typeof Sortable === "undefined") return;
    board.querySelectorAll(".rally-states").forEach(function (list) {
      if (list.dataset.sortable) return;
      list.dataset.sortable = "1";
      Sortable.create(list, {
        group: board.id, // states move between the statuses of one board only
        draggable: ".rally-state",
        animation: 120,
        forceFallback: true, // pointer events: the same on mouse, touch and in tests
        onAdd: function (event) {
          board.classList.add("saving");
          htmx.ajax("POST", url, {
            source: board,
            target: "#" + board.id,
            swap: "outerHTML",
            // The status map posts (rally_state, status); a value map names them otherwise.
            values: Object.fromEntries([
              [board.dataset.itemParam || "rally_state", event.item.dataset.state],
              [board.dataset.listParam || "status", event.to.dataset.status],
            ]),
            headers: { "X-CSRFToken": board.dataset.csrf },
          });
        },
      });
    });
  }

  function wireAll(root) {
    var boards = root.matches && root.matches(".status-board") ? [root] : [];
    root.querySelectorAll && root.querySelectorAll(".status-board").forEach(function (b) { boards.push(b); });
    boards.forEach(wire);
  }

  if (window.htmx) htmx.onLoad(wireAll);
  document.addEventListener("DOMContentLoaded", function () { wireAll(document); });
})();
