/* Bot form: offer only the markets of the chosen strategy quoted in the chosen asset.
   Data comes from the page's JSON (no inline script: CSP); the server checks the same rules. */
(function () {
  "use strict";
  var source = document.getElementById("strategy-markets");
  var strategy = document.getElementById("id_strategy");
  var quote = document.getElementById("id_quote_asset");
  if (!source || !strategy || !quote) { return; }
  var markets = JSON.parse(source.textContent);
  var boxes = document.querySelectorAll("input[name=markets]");

  function update() {
    var offered = markets[strategy.value] || [];
    boxes.forEach(function (box) {
      var show = offered.indexOf(box.value) >= 0 && box.value.split("/")[1] === quote.value;
      var row = box.closest("label").parentElement;
      row.hidden = !show;
      if (!show) { box.checked = false; }
    });
  }
  strategy.addEventListener("change", update);
  quote.addEventListener("change", update);
  update();
})();
