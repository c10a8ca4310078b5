// Rally links a record as <Rally URL>/#/detail/<type>/<ObjectID> (also with a project segment,
// #/<project oid>d/detail/…, and trailing tabs, …/<oid>/discussion). The fragment never reaches
// the server, so this page reads it and opens the sandbox's own page for the record.
(function () {
  "use strict";

  var DETAIL = /^#\/(?:\d+u?d\/)?detail\/((?:portfolioitem\/)?[a-z]+)\/(\d+)(?:[/?].*)?$/i;

  function target(hash) {
    var match = DETAIL.exec(hash || "");
    if (!match) {
      return hash && hash !== "#" && hash !== "#/" ? null : "/sandbox/";
    }
    var type = match[1].toLowerCase();
    var oid = match[2];
    if (type === "release") {
      return "/sandbox/releases/" + oid + "/";
    }
    return "/sandbox/items/" + oid + "/";
  }

  function go() {
    var url = target(window.location.hash);
    if (url) {
      window.location.replace(url);
      return;
    }
    var note = document.getElementById("unknown-link");
    if (note) {
      note.hidden = false;
    }
  }

  go();
  window.addEventListener("hashchange", go);
})();
