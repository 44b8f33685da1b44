// The order form shows what the typed quantity costs, as it is typed (without JavaScript the
// "Work out the cost" button asks the server). Exact integer arithmetic: grams x fen per tonne.
(function () {
  "use strict";
  var form = document.querySelector("form.order-form");
  if (!form) { return; }
  var perTonne = BigInt(form.dataset.priceFenPerT);
  var grams = { jin: 500n, kg: 1000n, t: 1000000n };
  var quantity = form.querySelector("input[name=quantity]");
  var unit = form.querySelector("select[name=unit]");
  var out = form.querySelector(".cost");
  var yuan = form.dataset.currency;

  function toGrams(text, perUnit) {
    var m = /^\s*(\d{1,9})(?:\.(\d{1,6}))?\s*$/.exec(text.replace(/,/g, ""));
    if (!m) { return null; }
    var decimals = m[2] || "";
    var scale = 10n ** BigInt(decimals.length);
    var scaled = BigInt(m[1] + decimals) * perUnit;
    return scaled % scale === 0n ? scaled / scale : null;
  }
  function update() {
    var g = toGrams(quantity.value, grams[unit.value]);
    if (g === null || g <= 0n) { out.textContent = ""; return; }
    var fen = (g * perTonne + 500000n) / 1000000n;  // half up, as the server rounds
    if (fen < 1n) { out.textContent = ""; return; }  // refused on ordering: it could not be paid
    var text = (fen / 100n).toLocaleString() + "." + String(fen % 100n).padStart(2, "0");
    out.textContent = "= " + text + " " + yuan;
  }
  quantity.addEventListener("input", update);
  unit.addEventListener("change", update);
  update();  // a quantity typed before the script ran, or restored by the browser, is priced too
}());
