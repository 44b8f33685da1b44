// Progressive enhancement for the province -> county picker: without JavaScript the county is
// typed and checked on the server; with it, the county suggestions follow the chosen province.
(function () {
  "use strict";
  document.querySelectorAll(".js-province select").forEach(function (select) {
    var form = select.form;
    // a form may ask for two places (from, to): each pair sits in its own .js-place
    var county = (select.closest(".js-place") || form).querySelector(".js-county input");
    if (!county || !county.getAttribute("list")) { return; }
    var list = document.getElementById(county.getAttribute("list"));
    select.addEventListener("change", function () {
      list.textContent = "";
      if (!select.value) { return; }
      fetch("/api/v1/regions?province=" + encodeURIComponent(select.value), {
        headers: { "Accept": "application/json" }
      }).then(function (r) { return r.ok ? r.json() : []; }).then(function (rows) {
        rows.forEach(function (row) {
          var option = document.createElement("option");
          option.value = row.name;
          list.appendChild(option);
        });
      }).catch(function () { /* the server still checks what is typed */ });
    });
  });
}());
