/* Bot form: offer only the quotes the chosen key's exchange lists, and the markets of the
   chosen strategy quoted in the chosen asset. Data comes from the page's JSON (no inline
   script: CSP); the server checks the same rules. */
(function () {
  "use strict";
  var source = document.getElementById("strategy-markets");
  var strategy = document.getElementById("id_strategy");
  var quote = document.getElementById("id_quote_asset");
  if (!source || !strategy || !quote) { return; }
  var markets = JSON.parse(source.textContent);
  var quotesSource = document.getElementById("key-quotes");
  var keyQuotes = quotesSource ? JSON.parse(quotesSource.textContent) : {};
  var key = document.getElementById("id_key");
  var boxes = document.querySelectorAll("input[name=markets]");

  function offerQuotes() {
    var listed = key && keyQuotes[key.value];
    if (!listed || quote.disabled) { return; }
    Array.prototype.forEach.call(quote.options, function (option) {
      option.hidden = option.disabled = listed.indexOf(option.value) < 0;
    });
    if (listed.indexOf(quote.value) < 0) { quote.value = listed[0]; }
  }

  function update() {
    offerQuotes();
    var offered = markets[strategy.value] || [];
    boxes.forEach(function (box) {
      var show = offered.indexOf(box.value) >= 0 && box.value.split("/")[1] === quote.value;
      var row = box.closest("label").parentElement;
      row.hidden = !show;
      if (!show) { box.checked = false; }
    });
  }
  strategy.addEventListener("change", update);
  if (key) { key.addEventListener("change", update); }
  quote.addEventListener("change", update);
  update();
})();
