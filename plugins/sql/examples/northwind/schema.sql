-- The Northwind sample database's product tables (as in pthom/northwind_psql,
-- column names and types kept; categories.picture left out), plus the tables
-- acs-plugin-sql writes orders to and reads order updates from.
--
-- Portable: this file runs unchanged on PostgreSQL and SQLite (>= 3.35).
-- Note unit_price REAL: a 4-byte float in PostgreSQL, 8-byte in SQLite.

CREATE TABLE categories (
    category_id   SMALLINT PRIMARY KEY,
    category_name VARCHAR(15) NOT NULL,
    description   TEXT
);

CREATE TABLE suppliers (
    supplier_id   SMALLINT PRIMARY KEY,
    company_name  VARCHAR(40) NOT NULL,
    contact_name  VARCHAR(30),
    contact_title VARCHAR(30),
    address       VARCHAR(60),
    city          VARCHAR(15),
    region        VARCHAR(15),
    postal_code   VARCHAR(10),
    country       VARCHAR(15),
    phone         VARCHAR(24),
    fax           VARCHAR(24),
    homepage      TEXT
);

CREATE TABLE products (
    product_id        SMALLINT PRIMARY KEY,
    product_name      VARCHAR(40) NOT NULL,
    supplier_id       SMALLINT REFERENCES suppliers (supplier_id),
    category_id       SMALLINT REFERENCES categories (category_id),
    quantity_per_unit VARCHAR(20),
    unit_price        REAL,
    units_in_stock    SMALLINT,
    units_on_order    SMALLINT,
    reorder_level     SMALLINT,
    discontinued      INTEGER NOT NULL
);

-- Orders acs-plugin-sql inserts; session_id is the idempotency key.
CREATE TABLE acs_order (
    id           VARCHAR(36) PRIMARY KEY,
    session_id   VARCHAR(255) NOT NULL UNIQUE,
    ship_name    VARCHAR(40) NOT NULL DEFAULT '',
    ship_address VARCHAR(60) NOT NULL DEFAULT '',
    ship_city    VARCHAR(15) NOT NULL DEFAULT '',
    ship_postal  VARCHAR(10) NOT NULL DEFAULT '',
    ship_country VARCHAR(15) NOT NULL DEFAULT '',
    email        VARCHAR(254) NOT NULL DEFAULT '',
    currency     VARCHAR(3) NOT NULL,
    amount_total INTEGER NOT NULL,
    freight      REAL NOT NULL DEFAULT 0,
    order_date   TIMESTAMP NOT NULL
);

CREATE TABLE acs_order_line (
    order_id   VARCHAR(36) NOT NULL REFERENCES acs_order (id),
    line_no    SMALLINT NOT NULL,
    product_id SMALLINT NOT NULL REFERENCES products (product_id),
    unit_price REAL NOT NULL,
    quantity   SMALLINT NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, line_no)
);

-- Order updates for the host. kind: 1 shipped, 2 cancelled,
-- 3 partially cancelled (one row per cancelled product).
CREATE TABLE acs_order_update (
    id            INTEGER NOT NULL,
    line_no       SMALLINT NOT NULL DEFAULT 1,
    session_id    VARCHAR(255) NOT NULL,
    kind          SMALLINT NOT NULL,
    product_id    SMALLINT,
    quantity      SMALLINT,
    refund_amount REAL,
    note          VARCHAR(255),
    shipped_via   VARCHAR(40),
    tracking      VARCHAR(64),
    occurred_at   TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
    acked_at      TIMESTAMP,
    PRIMARY KEY (id, line_no)
);
