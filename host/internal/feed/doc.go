// Package feed knows Stripe's Agentic Commerce Suite catalog feeds: the
// column spec of the product, inventory and price feeds, validation of a row
// (Check / Schema.Check, the single source of truth used by the builder, by
// `acs-connector feed validate` and by the embedded Stripe emulator), a
// streaming CSV/TSV Builder that splits output into parts and writes an
// error report in the shape Stripe returns, and ValidateFile for whole files.
//
// Source: https://docs.stripe.com/agentic-commerce/product-feed, as
// summarised in shared/docs/stripe-acs.md §1.1-1.4.
//
// # Encoding
//
// Output is UTF-8, RFC 4180 quoted exactly like encoding/csv.Writer (fields
// with a separator, quote, CR or LF are quoted; lines end in "\n"), with the
// header repeated at the top of every part. Values are trimmed of leading and
// trailing white space before they are checked and written; empty optional
// columns stay empty.
//
// # Rules where the spec leaves room, and what this package decided
//
// Where the spec is ambiguous we accept rather than reject, because a false
// rejection silently removes a merchant's product from agents while a false
// acceptance is still caught by Stripe's own error report.
//
//   - id: the spec says "alphanumeric"; real SKUs contain '-', '_', '.', '/'
//     and spaces, so only control characters are rejected (plus the 100
//     character limit). Duplicate ids within one build are rejected after the
//     first valid occurrence (FileCheck), so nothing is silently overwritten.
//   - brand is required except for movies, books and music. A row is exempt
//     when google_product_category or product_category names one of them: the
//     Google taxonomy IDs 784 (Media > Books) and its children 543541-543543,
//     839 (Media > DVDs & Videos) and 855 (Media > Music & Sound Recordings);
//     or a path whose first segment, optionally below "Media >", starts with
//     the word Books, Book, E-books, Ebooks, Audiobooks, Music, Sheet Music,
//     Movies, Movie, Films, Film, DVDs, DVD or Blu-ray (case-insensitive,
//     "Musical Instruments" does not match).
//   - mpn is required when gtin is empty; product_category is required when
//     google_product_category is empty (product feed only).
//   - condition is "required if not new": a missing condition means new, so
//     only its value is checked.
//   - item_group_id ("required when there are variants"): a single row
//     cannot tell whether siblings exist, and color, size and material are
//     routinely set on products without variants, so item_group_id is only
//     required when a custom_variant_option_name/value is set (those columns
//     exist only for variants). The spec's "all variants of a group carry the
//     same variant attributes" is not enforced: deciding which row of a
//     group is wrong would reject good rows.
//   - custom_variant_option_name_N and _value_N must both be set or both be
//     empty.
//   - inventory_quantity is required unless inventory_not_tracked is true, and
//     must then be blank. In the inventory feed it is always required.
//   - product_review_rating is required when product_review_count > 0 and
//     must be blank when the count is 0; a rating without a count is accepted.
//   - sale_price needs sale_price_effective_date, the same currency as price
//     and an amount ≤ price (equal is allowed). Dates are not compared with
//     today: a past or future range is the merchant's business.
//   - Dates accept ISO 8601 calendar dates (2026-05-31) and also date-times
//     (2026-05-31T12:00:00Z, ±hh:mm offsets, 'T' or space); ranges are
//     start/end with start ≤ end.
//   - Money is "<amount> <CUR>": period decimal, no thousands separator, no
//     sign, any number of decimals, and a currency of three upper-case
//     letters (not checked against the ISO 4217 list, which changes).
//   - Booleans are exactly "true" or "false" (lower case), as the spec says;
//     plugins must map TRUE/yes/1.
//   - gtin: digits only, 8, 12, 13 or 14 of them, valid GS1 check digit;
//     spreadsheet scientific notation (3.65275E+11) gets a specific message.
//     ISBN-10 is rejected (use the ISBN-13, which is a GTIN-13).
//   - URLs: absolute http or https with a host and no white space; list
//     fields are comma separated, empty items (a trailing comma) are ignored,
//     at most 10 additional images.
//   - Country codes (shipping, fees, size_system) must be assigned ISO 3166-1
//     alpha-2 codes in upper case (plus XK); "UK" is rejected with a hint to
//     use GB.
//   - shipping: country:delivery_area:service[:speed_range]:price; the area
//     is ALL, a subdivision code of 1-3 upper-case letters or digits, or for
//     US a postal code, prefix wildcard (94*) or a range of those; the speed
//     range is "min-max" days (a single number is also accepted).
//     applicable_fees: country:region:label:amount[:basis] where basis is any
//     non-empty token (its values are undocumented). free_shipping_threshold:
//     country:region:service:threshold and the service must appear in the
//     row's shipping column.
//   - related_products: at most 10 type:target entries, no self reference, no
//     duplicate target; unknown targets are Stripe's to drop, not ours.
//   - product_warning: type:message entries split on the first ':', so a
//     message may contain ':' but not ',' (the entry separator).
//   - third_party_tax_code: "<provider>:<code>"; the spec names only Anrok but
//     any lower-case provider is accepted. Setting both tax code columns is
//     accepted.
//   - stripe_product_tax_code: txcd_ followed by 8 digits. It is "required if
//     Stripe Tax calculates the tax", which a feed cannot know, so it is not
//     required.
//   - Text limits count Unicode characters, not bytes; every value must be
//     valid UTF-8. Guidelines that need judgement (no all-caps titles, no
//     links in descriptions, image size) are not checked.
//   - delete=true: only id is checked (Stripe ignores the other columns). A
//     product feed header containing delete needs only the id column, so a
//     deletion-only file (id,delete) is valid.
//
// # Builder
//
// Parts are numbered from 1 and opened lazily: a build with no valid row
// opens no part (an empty upload is never produced). A part is closed before
// a row would push it past Options.MaxPartBytes; rows are never split, and a
// single row larger than the limit gets a part of its own. The error report
// (stripe_error_message + the output columns, comma separated) is written
// only when some row is invalid. A record whose Columns equal the output
// columns in order is checked and written in place; anything else is copied
// into output order first.
//
// # Hot path
//
// Schema.Check does not allocate for a valid row and uses no regexp. The
// Builder and ValidateFile additionally remember, per column, the last value
// that passed a context-free check, so values repeated down a feed (brand,
// categories, shipping, fees, tax codes) are checked once per run; the
// outcome is identical to checking every value. Duplicate ids are found with
// a set of 64-bit hashes.
//
// Header names must match the spec exactly (after trimming and dropping a
// UTF-8 byte order mark); a case-insensitive match is offered as a "did you
// mean" hint rather than accepted, since Stripe matches names exactly.
package feed
