-- Demo data for the Saleor-like schema. Portable (PostgreSQL and SQLite).
-- Two channels: the feed is built for 'default-channel' (USD); the Polish
-- channel shows that prices and stock are picked per channel.

INSERT INTO channel_channel (id, name, slug, currency_code) VALUES
    (1, 'Default channel', 'default-channel', 'USD'),
    (2, 'Channel-PLN', 'channel-pln', 'PLN');

INSERT INTO warehouse_warehouse (id, name, slug) VALUES
    (1, 'Americas', 'americas'),
    (2, 'Europe', 'europe'),
    (3, 'Poland', 'poland');

INSERT INTO channel_channel_warehouses (id, channel_id, warehouse_id) VALUES
    (1, 1, 1),
    (2, 1, 2),
    (3, 2, 3);

INSERT INTO product_category (id, name, slug, parent_id) VALUES
    (1, 'Apparel', 'apparel', NULL),
    (2, 'T-shirts', 't-shirts', 1),
    (3, 'Sweaters', 'sweaters', 1),
    (4, 'Groceries', 'groceries', NULL),
    (5, 'Juices', 'juices', 4),
    (6, 'Beers', 'beers', 4);

INSERT INTO product_product (id, name, slug, description_plaintext, category_id, weight, created_at, updated_at) VALUES
    (1, 'Monospace Tee', 'monospace-tee', 'A soft cotton tee printed with monospaced type.', 2, 0.25, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (2, 'Apple Juice', 'apple-juice', 'Cold-pressed apple juice, no added sugar. 1 litre.', 5, 1.1, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (3, 'Cubes Hoodie', 'cubes-hoodie', 'Heavy fleece hoodie with a cube pattern.', 3, 0.75, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (4, 'Seaman Beer', 'seaman-beer', 'A pale ale brewed by the sea.', 6, 0.5, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (5, 'Pineapple Juice', 'pineapple-juice', 'Pineapple juice from concentrate. 1 litre.', 5, 1.1, '2024-01-10 09:00:00', '2024-01-10 09:00:00');

-- Variant 3 has no SKU (Saleor allows it): its feed id falls back to
-- 'variant-3'. Apple Juice does not track inventory. The hoodie is on
-- preorder. The beer is listed only in the PLN channel.
INSERT INTO product_productvariant (id, sku, name, product_id, track_inventory, is_preorder, preorder_end_date, sort_order, created_at, updated_at) VALUES
    (1, 'MONO-TEE-S', 'S', 1, TRUE, FALSE, NULL, 1, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (2, 'MONO-TEE-M', 'M', 1, TRUE, FALSE, NULL, 2, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (3, NULL, 'L', 1, TRUE, FALSE, NULL, 3, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (4, 'JUICE-APPLE-1L', '', 2, FALSE, FALSE, NULL, 1, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (5, 'HOODIE-CUBES-XL', 'XL', 3, TRUE, TRUE, '2026-09-01', 1, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (6, 'BEER-SEAMAN', '', 4, TRUE, FALSE, NULL, 1, '2024-01-10 09:00:00', '2024-01-10 09:00:00'),
    (7, 'JUICE-PINEAPPLE-1L', '', 5, TRUE, FALSE, NULL, 1, '2024-01-10 09:00:00', '2024-01-10 09:00:00');

INSERT INTO product_productvariantchannellisting (id, variant_id, channel_id, currency, price_amount, cost_price_amount, discounted_price_amount) VALUES
    (1, 1, 1, 'USD', 25.000, 10.000, 25.000),
    (2, 2, 1, 'USD', 25.000, 10.000, 20.000),
    (3, 3, 1, 'USD', 27.500, 11.000, 27.500),
    (4, 4, 1, 'USD', 3.990, 1.000, 3.990),
    (5, 5, 1, 'USD', 64.000, 30.000, 64.000),
    (6, 6, 2, 'PLN', 9.990, 3.000, 9.990),
    (7, 1, 2, 'PLN', 99.000, 40.000, 99.000),
    (8, 7, 1, 'USD', 4.490, 1.100, 4.490);

INSERT INTO product_productmedia (id, product_id, image, external_url, alt, type, sort_order) VALUES
    (1, 1, 'products/monospace-tee-front.png', NULL, 'Front', 'IMAGE', 0),
    (2, 1, 'products/monospace-tee-back.png', NULL, 'Back', 'IMAGE', 1),
    (3, 2, 'products/apple-juice.png', NULL, '', 'IMAGE', 0),
    (4, 3, 'products/cubes-hoodie.png', NULL, '', 'IMAGE', 0),
    (5, 4, 'products/seaman-beer.png', NULL, '', 'IMAGE', 0),
    (6, 5, 'products/pineapple-juice.png', NULL, '', 'IMAGE', 0);

-- available = sum(quantity - quantity_allocated) over the channel's
-- warehouses: MONO-TEE-S 8 + 5 = 13; MONO-TEE-M fully allocated (0);
-- variant-3 7; the hoodie none; pineapple juice 40 (the Poland stock of the
-- tee does not count for the default channel).
INSERT INTO warehouse_stock (id, warehouse_id, product_variant_id, quantity, quantity_allocated) VALUES
    (1, 1, 1, 10, 2),
    (2, 2, 1, 5, 0),
    (3, 1, 2, 3, 3),
    (4, 1, 3, 7, 0),
    (5, 2, 5, 0, 0),
    (6, 3, 1, 50, 0),
    (7, 3, 6, 100, 0),
    (8, 1, 7, 40, 0);

-- One order already pushed, and what happened to orders since.
INSERT INTO acs_order (id, session_id, payment_intent, channel_id, status, currency, total_amount, shipping_amount, tax_amount, user_email, shipping_name, shipping_line1, shipping_city, shipping_postal, shipping_country, created_at) VALUES
    ('0f8e4a52-3b7d-5c1e-9a26-4d1b8c7e2f10', 'cs_test_seed_1', 'pi_test_seed_1', 1, 'unfulfilled', 'USD', 55.000, 5.000, 0.000, 'ada@example.com', 'Ada Lovelace', '1 Main St', 'San Francisco', '94107', 'US', '2024-02-01 12:00:00'),
    ('5b0c7d1e-9f2a-5e3b-8c4d-6a7b8c9d0e1f', 'cs_test_seed_2', 'pi_test_seed_2', 1, 'unfulfilled', 'USD', 52.500, 0.000, 0.000, 'alan@example.com', 'Alan Turing', '2 Bletchley Rd', 'Milton Keynes', 'MK3 6EB', 'GB', '2024-02-02 12:00:00');

INSERT INTO acs_order_line (order_id, line_number, variant_id, product_sku, product_name, quantity, unit_price, total_price) VALUES
    ('0f8e4a52-3b7d-5c1e-9a26-4d1b8c7e2f10', 1, 1, 'MONO-TEE-S', 'Monospace Tee (S)', 2, 25.000, 50.000),
    ('5b0c7d1e-9f2a-5e3b-8c4d-6a7b8c9d0e1f', 1, 1, 'MONO-TEE-S', 'Monospace Tee (S)', 1, 25.000, 25.000),
    ('5b0c7d1e-9f2a-5e3b-8c4d-6a7b8c9d0e1f', 2, 3, 'variant-3', 'Monospace Tee (L)', 1, 27.500, 27.500);

INSERT INTO acs_order_update (id, line_no, session_id, kind, sku, quantity, refund_amount, reason, tracking_number, carrier, created_at, acked_at) VALUES
    (1, 1, 'cs_test_seed_1', 'shipped', NULL, NULL, NULL, NULL, '1Z999AA10123456784', 'UPS', '2024-02-03 08:00:00', NULL),
    (2, 1, 'cs_test_seed_2', 'partially_cancelled', 'variant-3', 1, 27.500, 'size L sold out', NULL, NULL, '2024-02-03 09:00:00', NULL),
    (3, 1, 'cs_test_seed_old', 'cancelled', NULL, NULL, NULL, 'customer request', NULL, NULL, '2024-01-20 09:00:00', '2024-01-20 10:00:00');
