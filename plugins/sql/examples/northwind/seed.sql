-- A few Northwind-style rows (values in the spirit of the sample
-- database). Portable (PostgreSQL and SQLite). Prices are REAL on purpose:
-- 21.35 as a PostgreSQL real is 21.350000381469727 in float64 and must
-- still become "21.35 USD".

INSERT INTO categories (category_id, category_name, description) VALUES
    (1, 'Beverages', 'Soft drinks, coffees, teas, beers, and ales'),
    (2, 'Condiments', 'Sweet and savory sauces, relishes, spreads, and seasonings'),
    (4, 'Dairy Products', 'Cheeses'),
    (6, 'Meat/Poultry', 'Prepared meats'),
    (8, 'Seafood', 'Seaweed and fish');

INSERT INTO suppliers (supplier_id, company_name, contact_name, city, country, homepage) VALUES
    (1, 'Exotic Liquids', 'Charlotte Cooper', 'London', 'UK', NULL),
    (2, 'New Orleans Cajun Delights', 'Shelley Burke', 'New Orleans', 'USA', '#CAJUN.HTM#'),
    (4, 'Tokyo Traders', 'Yoshi Nagase', 'Tokyo', 'Japan', NULL),
    (7, 'Pavlova, Ltd.', 'Ian Devling', 'Melbourne', 'Australia', NULL),
    (14, 'Formaggi Fortini s.r.l.', 'Elio Rossi', 'Ravenna', 'Italy', '#FORMAGGI.HTM#'),
    (18, 'Aux joyeux ecclésiastiques', 'Guylène Nodier', 'Paris', 'France', NULL);

INSERT INTO products (product_id, product_name, supplier_id, category_id, quantity_per_unit, unit_price, units_in_stock, units_on_order, reorder_level, discontinued) VALUES
    (1, 'Chai', 1, 1, '10 boxes x 20 bags', 18, 39, 0, 10, 0),
    (2, 'Chang', 1, 1, '24 - 12 oz bottles', 19, 17, 40, 25, 0),
    (3, 'Aniseed Syrup', 1, 2, '12 - 550 ml bottles', 10, 13, 70, 25, 0),
    (5, 'Chef Anton''s Gumbo Mix', 2, 2, '36 boxes', 21.35, 0, 0, 0, 1),
    (9, 'Mishi Kobe Niku', 4, 6, '18 - 500 g pkgs.', 97, 29, 0, 0, 1),
    (11, 'Queso Cabrales', 14, 4, '1 kg pkg.', 21, 22, 30, 30, 0),
    (17, 'Alice Mutton', 7, 6, '20 - 1 kg tins', 39, 0, 0, 0, 1),
    (18, 'Carnarvon Tigers', 7, 8, '16 kg pkg.', 62.5, 42, 0, 0, 0),
    (31, 'Gorgonzola Telino', 14, 4, '12 - 100 g pkgs', 12.5, 0, 70, 20, 0),
    (38, 'Côte de Blaye', 18, 1, '12 - 75 cl bottles', 263.5, 17, 0, 15, 0),
    (40, 'Boston Crab Meat', 7, 8, '24 - 4 oz tins', 18.4, 123, 0, 30, 0),
    (44, 'Gula Malacca', 4, 2, '20 - 2 kg bags', 19.45, 27, 0, 15, 0),
    (76, 'Lakkalikööri', 1, 1, '500 ml', 18, 57, 0, 20, 0);

INSERT INTO acs_order (id, session_id, ship_name, ship_address, ship_city, ship_postal, ship_country, email, currency, amount_total, freight, order_date) VALUES
    ('9a1c2b3d-4e5f-5a6b-8c7d-0e1f2a3b4c5d', 'cs_test_nw_seed_1', 'Maria Anders', 'Obere Str. 57', 'Berlin', '12209', 'DE', 'maria@example.com', 'USD', 5550, 1.5, '2024-03-01 10:00:00');

INSERT INTO acs_order_line (order_id, line_no, product_id, unit_price, quantity) VALUES
    ('9a1c2b3d-4e5f-5a6b-8c7d-0e1f2a3b4c5d', 1, 1, 18, 2),
    ('9a1c2b3d-4e5f-5a6b-8c7d-0e1f2a3b4c5d', 2, 2, 19, 1);

INSERT INTO acs_order_update (id, line_no, session_id, kind, product_id, quantity, refund_amount, note, shipped_via, tracking, occurred_at, acked_at) VALUES
    (1, 1, 'cs_test_nw_seed_1', 3, 2, 1, 19, 'Chang out of stock', NULL, NULL, '2024-03-02 09:00:00', NULL),
    (2, 1, 'cs_test_nw_seed_1', 1, NULL, NULL, NULL, NULL, 'Speedy Express', 'SE-000123', '2024-03-03 09:00:00', NULL);
