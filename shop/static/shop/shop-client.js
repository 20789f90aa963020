/*
 * The shop's browser client: one file, no build step, no dependencies.
 *
 *   <script src="https://PRODUCT/static/shop/shop-client.js"></script>
 *   <script>
 *     const shop = ShopClient.init({apiBase: "https://PRODUCT/api/v1", apiKey: "PUBLIC_KEY", customerId: "c-42"});
 *     // customerId may be left out until the shopper signs in: events then carry the browser's visitor id, and
 *     // shop.identify("c-42") at sign-in (or init with customerId) sends one login event joining them to c-42.
 *     shop.reset();                                  // on sign-out: a new visitor id for whoever comes next
 *     shop.startView("SKU-1");                       // the view's duration is sent when the page is left
 *     shop.addToCart("SKU-1", {quantity: 1, amount: "19.90", currency: "EUR"});
 *     shop.purchase({orderRef: "o-1", coupon: "SAVE10", items: [{sku: "SKU-1", quantity: 1, amount: "19.90"}]});
 *     shop.recommendations(document.getElementById("recs"), {n: 4, productUrl: "/p/{sku}"});
 *     shop.offers(document.getElementById("offers"));
 *   </script>
 *
 * Events are queued in localStorage and sent in batches (POST /events) every few seconds, when the queue is full
 * and when the page is hidden; a failed batch (network error, 429, 5xx) is retried with a growing delay, an
 * answered one is removed (events the API rejected are reported with console.warn, not retried). Every event
 * has its own event_id, so a batch sent twice is stored once. The key must be a browser key: scopes
 * events:write, recommendations:read and offers:read only, used from the shop's configured origins.
 */
(function (global) {
  "use strict";

  var STORAGE_PREFIX = "shopClient:";
  var MAX_BATCH = 100;

  function newId() {
    if (global.crypto && typeof global.crypto.randomUUID === "function") {
      return global.crypto.randomUUID();
    }
    return "e-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }

  function storage() {
    try {
      var probe = STORAGE_PREFIX + "probe";
      global.localStorage.setItem(probe, "1");
      global.localStorage.removeItem(probe);
      return global.localStorage;
    } catch (e) {
      return null; // private mode or disabled: the queue lives in memory only
    }
  }

  function ShopClient(options) {
    if (!options || !options.apiBase || !options.apiKey) {
      throw new Error("ShopClient needs apiBase and apiKey.");
    }
    this.apiBase = options.apiBase.replace(/\/+$/, "");
    this.apiKey = options.apiKey;
    this.customerId = null;
    this.currency = options.currency || null;
    this.batchSize = Math.min(options.batchSize || 20, MAX_BATCH);
    this.flushInterval = options.flushInterval || 3000;
    this.maxRetryDelay = options.maxRetryDelay || 60000;
    this.onSent = options.onSent || null;
    this._store = storage();
    this._memoryQueue = [];
    this._memorySettings = {};
    this._sending = null;
    this._failures = 0;
    this._retryTimer = null;
    this._view = null;
    if (options.customerId) this.identify(options.customerId);
    var self = this;
    this._interval = global.setInterval(function () {
      self.flush();
    }, this.flushInterval);
    global.addEventListener("pagehide", function () {
      self.endView();
      self.flush({keepalive: true});
    });
    global.document.addEventListener("visibilitychange", function () {
      if (global.document.visibilityState === "hidden") {
        self.endView();
        self.flush({keepalive: true});
      }
    });
  }

  // --- identity and remembered attribution -------------------------------------------------------

  /** The browser's visitor id: made once, kept in localStorage, sent as anonymous_id until the shopper signs in. */
  ShopClient.prototype.visitorId = function () {
    var id = this._setting("visitor");
    if (!id) {
      id = newId();
      this._setSetting("visitor", id);
    }
    return id;
  };

  /**
   * The shopper is this customer from now on. The first time a visitor id meets a customer id, one login event
   * joins the visitor's history (what was browsed before signing in) to the customer; later pages send nothing.
   */
  ShopClient.prototype.identify = function (customerId) {
    if (!customerId) return;
    customerId = String(customerId);
    this.customerId = customerId;
    var visitor = this.visitorId();
    if (this._setting("joined:" + visitor) === customerId) return;
    this._enqueue({
      event_id: newId(),
      kind: "login",
      customer_id: customerId,
      anonymous_id: visitor,
      occurred_at: new Date().toISOString(),
    });
    this._setSetting("joined:" + visitor, customerId);
    this.flush();
  };

  /** Sign-out: forget the customer and start a new visitor, so the next shopper's browsing is not joined to them. */
  ShopClient.prototype.reset = function () {
    this.customerId = null;
    this._removeSetting("visitor");
  };

  ShopClient.prototype._setting = function (name) {
    try {
      return this._store ? this._store.getItem(STORAGE_PREFIX + name) : this._memorySettings[name] || null;
    } catch (e) {
      return null;
    }
  };

  ShopClient.prototype._setSetting = function (name, value) {
    try {
      if (this._store) this._store.setItem(STORAGE_PREFIX + name, value);
      else this._memorySettings[name] = value;
    } catch (e) {
      this._memorySettings[name] = value;
    }
  };

  ShopClient.prototype._removeSetting = function (name) {
    try {
      if (this._store) this._store.removeItem(STORAGE_PREFIX + name);
    } catch (e) {
      /* nothing stored */
    }
    delete this._memorySettings[name];
  };

  ShopClient.prototype._remember = function (name, value) {
    try {
      global.sessionStorage.setItem(STORAGE_PREFIX + name, value);
    } catch (e) {
      /* attribution is best effort */
    }
  };

  ShopClient.prototype._recall = function (name) {
    try {
      return global.sessionStorage.getItem(STORAGE_PREFIX + name);
    } catch (e) {
      return null;
    }
  };

  /** The recommendation that led to this product (set when a widget link was followed), or null. */
  ShopClient.prototype.recommendationFor = function (sku) {
    return this._recall("rec:" + sku);
  };

  /** The coupon of the last offer shown, sent with purchases unless one is given. */
  ShopClient.prototype.lastCoupon = function () {
    return this._recall("coupon");
  };

  // --- the queue ----------------------------------------------------------------------------------

  ShopClient.prototype._queue = function () {
    if (!this._store) return this._memoryQueue;
    try {
      return JSON.parse(this._store.getItem(STORAGE_PREFIX + "queue") || "[]");
    } catch (e) {
      return [];
    }
  };

  ShopClient.prototype._saveQueue = function (queue) {
    if (!this._store) {
      this._memoryQueue = queue;
      return;
    }
    this._store.setItem(STORAGE_PREFIX + "queue", JSON.stringify(queue));
  };

  /** Queue one event (fields as POST /events takes them); returns its event_id. Before sign-in it carries the
   * visitor id as anonymous_id instead of a customer_id. */
  ShopClient.prototype.track = function (kind, sku, fields) {
    var event = {
      event_id: newId(),
      sku: String(sku),
      kind: kind,
      occurred_at: new Date().toISOString(),
      source: "web",
    };
    if (this.customerId) event.customer_id = this.customerId;
    else event.anonymous_id = this.visitorId();
    fields = fields || {};
    for (var name in fields) {
      if (Object.prototype.hasOwnProperty.call(fields, name) && fields[name] !== undefined && fields[name] !== null) {
        event[name] = fields[name];
      }
    }
    if (!event.recommendation_id) {
      var rec = this.recommendationFor(sku);
      if (rec) event.recommendation_id = rec;
    }
    this._enqueue(event);
    return event.event_id;
  };

  ShopClient.prototype._enqueue = function (event) {
    var queue = this._queue();
    queue.push(event);
    this._saveQueue(queue);
    if (queue.length >= this.batchSize) this.flush();
  };

  /** Start timing a product view; the view is queued with its duration (seconds) by endView() or on leaving. */
  ShopClient.prototype.startView = function (sku, fields) {
    this.endView();
    this._view = {sku: sku, fields: fields || {}, started: Date.now()};
  };

  ShopClient.prototype.endView = function () {
    var view = this._view;
    if (!view) return null;
    this._view = null;
    var seconds = Math.min(Math.round((Date.now() - view.started) / 100) / 10, 86400);
    var fields = Object.assign({}, view.fields, {value: seconds});
    return this.track("view", view.sku, fields);
  };

  ShopClient.prototype.addToCart = function (sku, options) {
    options = options || {};
    return this.track("cart", sku, {
      quantity: options.quantity || 1,
      amount: options.amount,
      currency: options.currency || this.currency,
      recommendation_id: options.recommendationId,
    });
  };

  /** One purchase event per line; event ids derive from the order so a confirmation page reloaded is stored once. */
  ShopClient.prototype.purchase = function (order) {
    if (!order || !order.items || !order.items.length) {
      throw new Error("ShopClient.purchase needs items: [{sku, quantity, amount}].");
    }
    var coupon = order.coupon || this.lastCoupon();
    var ids = [];
    for (var i = 0; i < order.items.length; i++) {
      var item = order.items[i];
      var fields = {
        quantity: item.quantity || 1,
        amount: item.amount,
        currency: item.currency || order.currency || this.currency,
        order_ref: order.orderRef,
        coupon: coupon || undefined,
        recommendation_id: item.recommendationId || order.recommendationId,
      };
      if (order.orderRef) {
        // Deterministic id: the same order line sent twice is a duplicate, not a second purchase.
        fields.event_id = "order:" + order.orderRef + ":" + item.sku;
      }
      var id = this.track("purchase", item.sku, fields);
      ids.push(id);
    }
    this.flush();
    return ids;
  };

  // --- sending --------------------------------------------------------------------------------------

  ShopClient.prototype._headers = function () {
    return {"Content-Type": "application/json", "X-Api-Key": this.apiKey};
  };

  /** Send the queued events now; resolves when the batch is answered (or scheduled for a retry). */
  ShopClient.prototype.flush = function (options) {
    var self = this;
    if (this._sending || this._retryTimer) return this._sending || Promise.resolve();
    var queue = this._queue();
    if (!queue.length) return Promise.resolve();
    var batch = queue.slice(0, MAX_BATCH);
    var sentIds = {};
    batch.forEach(function (event) {
      sentIds[event.event_id] = true;
    });
    this._sending = global
      .fetch(this.apiBase + "/events", {
        method: "POST",
        headers: this._headers(),
        body: JSON.stringify({events: batch}),
        keepalive: !!(options && options.keepalive),
        credentials: "omit",
      })
      .then(function (response) {
        if (response.status === 429 || response.status >= 500) {
          var wait = parseFloat(response.headers.get("Retry-After") || "0") * 1000;
          throw {retryAfter: wait, status: response.status};
        }
        return response
          .json()
          .catch(function () {
            return null;
          })
          .then(function (body) {
            // Answered (stored, duplicate, or refused as a whole): take the batch off the queue either way.
            self._saveQueue(
              self._queue().filter(function (event) {
                return !sentIds[event.event_id];
              })
            );
            self._failures = 0;
            if (!response.ok) {
              global.console.warn("ShopClient: events refused (" + response.status + ")", body);
            } else if (body && body.results) {
              body.results.forEach(function (result) {
                if (result.status === "rejected") global.console.warn("ShopClient: event rejected", result);
              });
            }
            if (self.onSent) self.onSent(body, response.status);
          });
      })
      .catch(function (error) {
        self._failures += 1;
        var delay = Math.min(1000 * Math.pow(2, self._failures - 1), self.maxRetryDelay);
        if (error && error.retryAfter) delay = Math.max(delay, error.retryAfter);
        self._retryTimer = global.setTimeout(function () {
          self._retryTimer = null;
          self.flush();
        }, delay);
      })
      .then(function () {
        self._sending = null;
        if (!self._retryTimer && self._queue().length) return self.flush();
      });
    return this._sending;
  };

  ShopClient.prototype.pending = function () {
    return this._queue().length;
  };

  ShopClient.prototype._get = function (path, params) {
    var query = [];
    params = params || {};
    for (var name in params) {
      if (params[name] !== undefined && params[name] !== null && params[name] !== "") {
        query.push(encodeURIComponent(name) + "=" + encodeURIComponent(params[name]));
      }
    }
    var url = this.apiBase + path + (query.length ? "?" + query.join("&") : "");
    return global.fetch(url, {headers: this._headers(), credentials: "omit"}).then(function (response) {
      if (!response.ok) throw new Error("ShopClient: GET " + path + " answered " + response.status);
      return response.json();
    });
  };

  // --- widgets ----------------------------------------------------------------------------------------

  function el(tag, className, text) {
    var node = global.document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function productLink(template, sku) {
    return (template || "#{sku}").replace("{sku}", encodeURIComponent(sku));
  }

  /**
   * Fill `target` with the customer's recommendations: a list of links, each with its reason. Following a link
   * remembers the recommendation id, so the view, cart and purchase of that product carry it.
   * Options: n, category, exclude (array of skus), productUrl ("/p/{sku}"), title. Resolves with the answer.
   */
  ShopClient.prototype.recommendations = function (target, options) {
    var self = this;
    options = options || {};
    var path = "/recommendations/" + encodeURIComponent(this.customerId || "anonymous");
    return this._get(path, {
      n: options.n || 4,
      category: options.category,
      exclude: options.exclude ? options.exclude.join(",") : undefined,
    }).then(function (answer) {
      target.textContent = "";
      target.setAttribute("data-recommendation-id", answer.recommendation_id);
      if (options.title) target.appendChild(el("h2", "shop-recs-title", options.title));
      var list = el("ul", "shop-recs");
      answer.results.forEach(function (item) {
        var li = el("li", "shop-rec");
        li.setAttribute("data-sku", item.sku);
        var link = el("a", "shop-rec-link", item.name || item.sku);
        link.href = productLink(options.productUrl, item.sku);
        link.addEventListener("click", function () {
          self._remember("rec:" + item.sku, answer.recommendation_id);
        });
        li.appendChild(link);
        if (item.reason) li.appendChild(el("span", "shop-rec-reason", item.reason));
        list.appendChild(li);
      });
      target.appendChild(list);
      return answer;
    });
  };

  /** Fill `target` with the customer's on-site offers (headline, text, coupon); remembers the coupon. */
  ShopClient.prototype.offers = function (target, options) {
    var self = this;
    options = options || {};
    return this._get("/customers/" + encodeURIComponent(this.customerId || "anonymous") + "/offers").then(
      function (answer) {
        target.textContent = "";
        answer.offers.forEach(function (offer) {
          var box = el("section", "shop-offer");
          box.appendChild(el("h2", "shop-offer-headline", offer.headline));
          if (offer.text) box.appendChild(el("p", "shop-offer-text", offer.text));
          if (offer.coupon) {
            box.appendChild(el("p", "shop-offer-coupon", "Code: " + offer.coupon));
            self._remember("coupon", offer.coupon);
          }
          var products = el("ul", "shop-offer-products");
          (offer.products || []).forEach(function (product) {
            var item = el("li", "shop-offer-product");
            var link = el("a", "shop-offer-product-link", product.name || product.sku);
            link.href = productLink(options.productUrl, product.sku);
            if (offer.recommendation_id) {
              link.addEventListener("click", function () {
                self._remember("rec:" + product.sku, offer.recommendation_id);
              });
            }
            item.appendChild(link);
            products.appendChild(item);
          });
          if (products.childNodes.length) box.appendChild(products);
          target.appendChild(box);
        });
        return answer;
      }
    );
  };

  var instance = null;
  ShopClient.init = function (options) {
    instance = new ShopClient(options);
    return instance;
  };
  ShopClient.get = function () {
    return instance;
  };

  global.ShopClient = ShopClient;
})(window);
