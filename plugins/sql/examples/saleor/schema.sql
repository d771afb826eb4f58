-- A Saleor-like catalog (the table and column names of saleor/saleor's
-- Django models: product, variant, per-channel price listing, media, stock
-- per warehouse, category tree), cut down to what the feed needs, plus the
-- tables acs-plugin-sql writes orders to and reads order updates from.
--
-- Portable: this file runs unchanged on PostgreSQL and SQLite (>= 3.35).
-- Ids of catalog rows are given explicitly, as a dump would; order ids are
-- UUIDs the plugin derives from the checkout session (:order_uuid), as
-- Saleor generates its order UUIDs in the application.

CREATE TABLE channel_channel (
    id            INTEGER PRIMARY KEY,
    name          VARCHAR(250) NOT NULL,
    slug          VARCHAR(255) NOT NULL UNIQUE,
    currency_code VARCHAR(3) NOT NULL
);

CREATE TABLE warehouse_warehouse (
    id   INTEGER PRIMARY KEY,
    name VARCHAR(250) NOT NULL,
    slug VARCHAR(255) NOT NULL UNIQUE
);

-- Which warehouses serve which channel.
CREATE TABLE channel_channel_warehouses (
    id           INTEGER PRIMARY KEY,
    channel_id   INTEGER NOT NULL REFERENCES channel_channel (id),
    warehouse_id INTEGER NOT NULL REFERENCES warehouse_warehouse (id),
    UNIQUE (channel_id, warehouse_id)
);

-- MPTT tree in Saleor; parent_id is enough here.
CREATE TABLE product_category (
    id        INTEGER PRIMARY KEY,
    name      VARCHAR(250) NOT NULL,
    slug      VARCHAR(255) NOT NULL UNIQUE,
    parent_id INTEGER REFERENCES product_category (id)
);

CREATE TABLE product_product (
    id                    INTEGER PRIMARY KEY,
    name                  VARCHAR(250) NOT NULL,
    slug                  VARCHAR(255) NOT NULL UNIQUE,
    description_plaintext TEXT NOT NULL DEFAULT '',
    category_id           INTEGER REFERENCES product_category (id),
    weight                REAL,
    created_at            TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at            TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE product_productvariant (
    id                INTEGER PRIMARY KEY,
    sku               VARCHAR(255) UNIQUE,
    name              VARCHAR(255) NOT NULL DEFAULT '',
    product_id        INTEGER NOT NULL REFERENCES product_product (id),
    track_inventory   BOOLEAN NOT NULL DEFAULT TRUE,
    is_preorder       BOOLEAN NOT NULL DEFAULT FALSE,
    preorder_end_date DATE,
    sort_order        INTEGER,
    created_at        TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at        TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- The price lives per channel.
CREATE TABLE product_productvariantchannellisting (
    id                      INTEGER PRIMARY KEY,
    variant_id              INTEGER NOT NULL REFERENCES product_productvariant (id),
    channel_id              INTEGER NOT NULL REFERENCES channel_channel (id),
    currency                VARCHAR(3) NOT NULL,
    price_amount            NUMERIC(12, 3),
    cost_price_amount       NUMERIC(12, 3),
    discounted_price_amount NUMERIC(12, 3),
    UNIQUE (variant_id, channel_id)
);

CREATE TABLE product_productmedia (
    id           INTEGER PRIMARY KEY,
    product_id   INTEGER NOT NULL REFERENCES product_product (id),
    image        VARCHAR(100) NOT NULL DEFAULT '',
    external_url VARCHAR(256),
    alt          VARCHAR(250) NOT NULL DEFAULT '',
    type         VARCHAR(32) NOT NULL DEFAULT 'IMAGE',
    sort_order   INTEGER
);

CREATE TABLE warehouse_stock (
    id                 INTEGER PRIMARY KEY,
    warehouse_id       INTEGER NOT NULL REFERENCES warehouse_warehouse (id),
    product_variant_id INTEGER NOT NULL REFERENCES product_productvariant (id),
    quantity           INTEGER NOT NULL DEFAULT 0,
    quantity_allocated INTEGER NOT NULL DEFAULT 0,
    UNIQUE (warehouse_id, product_variant_id)
);

-- Orders acs-plugin-sql inserts. session_id is the idempotency key: its
-- UNIQUE constraint makes a repeated push of the same checkout a no-op.
CREATE TABLE acs_order (
    id               VARCHAR(36) PRIMARY KEY,
    session_id       VARCHAR(255) NOT NULL UNIQUE,
    payment_intent   VARCHAR(255) NOT NULL DEFAULT '',
    channel_id       INTEGER REFERENCES channel_channel (id),
    status           VARCHAR(32) NOT NULL DEFAULT 'unfulfilled',
    currency         VARCHAR(3) NOT NULL,
    total_amount     NUMERIC(12, 3) NOT NULL,
    shipping_amount  NUMERIC(12, 3) NOT NULL DEFAULT 0,
    tax_amount       NUMERIC(12, 3) NOT NULL DEFAULT 0,
    user_email       VARCHAR(254) NOT NULL DEFAULT '',
    shipping_name    VARCHAR(256) NOT NULL DEFAULT '',
    shipping_line1   VARCHAR(256) NOT NULL DEFAULT '',
    shipping_line2   VARCHAR(256) NOT NULL DEFAULT '',
    shipping_city    VARCHAR(256) NOT NULL DEFAULT '',
    shipping_postal  VARCHAR(20) NOT NULL DEFAULT '',
    shipping_country VARCHAR(2) NOT NULL DEFAULT '',
    created_at       TIMESTAMP NOT NULL
);

CREATE TABLE acs_order_line (
    order_id     VARCHAR(36) NOT NULL REFERENCES acs_order (id),
    line_number  INTEGER NOT NULL,
    variant_id   INTEGER NOT NULL REFERENCES product_productvariant (id),
    product_sku  VARCHAR(255) NOT NULL,
    product_name VARCHAR(386) NOT NULL DEFAULT '',
    quantity     INTEGER NOT NULL CHECK (quantity > 0),
    unit_price   NUMERIC(12, 3) NOT NULL,
    total_price  NUMERIC(12, 3) NOT NULL,
    PRIMARY KEY (order_id, line_number)
);

-- What happened to orders in the backend, for the host to capture or
-- refund. kind: shipped | cancelled | partially_cancelled. A partial
-- cancellation of several SKUs is several rows with the same id.
CREATE TABLE acs_order_update (
    id              INTEGER NOT NULL,
    line_no         INTEGER NOT NULL DEFAULT 1,
    session_id      VARCHAR(255) NOT NULL,
    kind            VARCHAR(32) NOT NULL,
    sku             VARCHAR(255),
    quantity        INTEGER,
    refund_amount   NUMERIC(12, 3),
    reason          VARCHAR(255),
    tracking_number VARCHAR(255),
    carrier         VARCHAR(64),
    created_at      TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    acked_at        TIMESTAMP,
    PRIMARY KEY (id, line_no)
);
