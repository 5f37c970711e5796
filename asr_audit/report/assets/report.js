// asr-audit HTML report: the findings filters. No data lives here: every value is read from the
// page's own elements (their data- attributes), so nothing from Azure is ever parsed as script.
(function () {
  "use strict";
  var findings = Array.prototype.slice.call(document.querySelectorAll("article.finding"));
  var filters = Array.prototype.slice.call(document.querySelectorAll("select[data-filter]"));
  var count = document.getElementById("filter-count");
  var reset = document.getElementById("filter-reset");

  function apply() {
    var shown = 0;
    findings.forEach(function (item) {
      var match = filters.every(function (select) {
        return !select.value || item.getAttribute("data-" + select.getAttribute("data-filter")) === select.value;
      });
      item.hidden = !match;
      if (match) shown += 1;
    });
    count.textContent = "Showing " + shown + " of " + findings.length + " finding" + (findings.length === 1 ? "" : "s");
  }

  function clear() {
    filters.forEach(function (select) { select.value = ""; });
    apply();
  }

  // A link from the picture to a finding the filters hide clears the filters first.
  function reveal() {
    var id = decodeURIComponent(window.location.hash.slice(1));
    var target = id ? document.getElementById(id) : null;
    if (target && target.hidden) {
      clear();
      target.scrollIntoView();
    }
  }

  filters.forEach(function (select) { select.addEventListener("change", apply); });
  if (reset) reset.addEventListener("click", clear);
  window.addEventListener("hashchange", reveal);
  apply();
  reveal();
})();
