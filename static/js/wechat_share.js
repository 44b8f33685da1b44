// WeChat's share card (JS-SDK), inside WeChat's browser only: ask this site for wx.config's
// signature of this page's address, load the JS-SDK from WeChat, then set the card. Anything
// failing leaves WeChat's plain card; the page itself never depends on it.
(function () {
  "use strict";
  var el = document.getElementById("wechat-share");
  if (!el || !/MicroMessenger/i.test(navigator.userAgent) || !window.fetch) return;
  var data = el.dataset;
  var url = location.href.split("#")[0];

  function load(src, fallback) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = function () {
        if (fallback) load(fallback, null).then(resolve, reject);
        else reject(new Error("JS-SDK not loaded"));
      };
      document.head.appendChild(script);
    });
  }

  var config = fetch(data.configUrl + "?url=" + encodeURIComponent(url), {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  }).then(function (response) {
    if (!response.ok) throw new Error("no signature");
    return response.json();
  });

  Promise.all([config, load(data.sdk, data.sdkFallback)]).then(function (results) {
    var cfg = results[0];
    var wx = window.wx;
    if (!wx) return;
    wx.config({
      debug: false,
      appId: cfg.appId,
      timestamp: cfg.timestamp,
      nonceStr: cfg.nonceStr,
      signature: cfg.signature,
      jsApiList: ["updateAppMessageShareData", "updateTimelineShareData"],
    });
    wx.ready(function () {
      wx.updateAppMessageShareData({
        title: data.title, desc: data.desc, link: data.link, imgUrl: data.img,
      });
      wx.updateTimelineShareData({ title: data.title, link: data.link, imgUrl: data.img });
    });
  }).catch(function () {});
})();
