package feed

// col identifies a spec column. The product feed holds every column; the
// inventory and price feeds use subsets of the same identifiers.
type col uint8

// Product feed columns in the order of Stripe's spec
// (https://docs.stripe.com/agentic-commerce/product-feed).
const (
	cID col = iota
	cTitle
	cDescription
	cLink
	cBrand
	cGTIN
	cMPN
	cImageLink
	cAdditionalImageLink
	cVideoLink
	cModel3DLink
	cCondition
	cGoogleProductCategory
	cProductCategory
	cAgeGroup
	cMaterial
	cLength
	cWidth
	cHeight
	cWeight
	cItemGroupID
	cItemGroupTitle
	cColor
	cSize
	cSizeSystem
	cGender
	cOptName1
	cOptValue1
	cOptName2
	cOptValue2
	cOptName3
	cOptValue3
	cAvailability
	cAvailabilityDate
	cExpirationDate
	cInventoryNotTracked
	cInventoryQuantity
	cPrice
	cSalePrice
	cSalePriceEffectiveDate
	cStripeProductTaxCode
	cThirdPartyTaxCode
	cTaxBehavior
	cApplicableFees
	cShipping
	cShippingCostBasis
	cFreeShippingThreshold
	cPopularityScore
	cReturnRate
	cProductReviewCount
	cProductReviewRating
	cRelatedProducts
	cProductWarning
	cAgeRestriction
	cCustomLabel0
	cCustomLabel1
	cCustomLabel2
	cCustomLabel3
	cCustomLabel4
	cDelete
	cDisableCheckout

	numCols
)

// fieldType selects the value validator of a column.
type fieldType uint8

const (
	tText          fieldType = iota // free UTF-8 text, optional max length
	tID                             // feed id / SKU
	tURL                            // one absolute http(s) URL
	tURLList                        // comma separated URLs
	tEnum                           // one of colDef.enum
	tBool                           // true | false
	tMoney                          // 15.00 USD
	tDimension                      // 20 in | 50.8 cm
	tWeight                         // 2.5 lb | 1 kg
	tDate                           // ISO 8601 date (or date-time)
	tDateRange                      // start/end
	tUint                           // non-negative integer
	tNumber                         // decimal number in [lo, hi]
	tGTIN                           // GTIN-8/12/13/14
	tCountry                        // ISO 3166-1 alpha-2
	tTaxCode                        // txcd_99999999
	tThirdPartyTax                  // anrok:<code>
	tShipping                       // country:area:service[:speed]:price,...
	tFees                           // country:region:label:amount[:basis],...
	tFreeShipping                   // country:region:service:threshold,...
	tRelated                        // type:target_id,...
	tWarning                        // type:message,...
)

type colDef struct {
	name   string
	typ    fieldType
	max    int    // maximum length in characters; 0 = no limit
	lo, hi string // range of a tNumber
	enum   []string

	freeText bool // values may hold any UTF-8 (set by init from typ)
	pure     bool // the value check does not look at other columns
	plain    bool // a valid value never needs CSV/TSV quoting
}

var (
	enumCondition    = []string{"new", "refurbished", "used"}
	enumAgeGroup     = []string{"newborn", "infant", "toddler", "kids", "adult"}
	enumGender       = []string{"male", "female", "unisex"}
	enumAvailability = []string{"in_stock", "out_of_stock", "preorder", "backorder"}
	enumTaxBehavior  = []string{"inclusive", "exclusive"}
	enumCostBasis    = []string{"per_order", "per_item"}
	enumRelated      = []string{"upsell", "cross_sell", "substitute", "accessory"}
	enumWarning      = []string{"legal_disclaimer", "safety_warning", "prop_65"}
)

var colDefs = [numCols]colDef{
	cID:                     {name: "id", typ: tID, max: 100},
	cTitle:                  {name: "title", typ: tText, max: 150},
	cDescription:            {name: "description", typ: tText, max: 5000},
	cLink:                   {name: "link", typ: tURL},
	cBrand:                  {name: "brand", typ: tText, max: 70},
	cGTIN:                   {name: "gtin", typ: tGTIN, max: 50},
	cMPN:                    {name: "mpn", typ: tText, max: 70},
	cImageLink:              {name: "image_link", typ: tURL},
	cAdditionalImageLink:    {name: "additional_image_link", typ: tURLList, max: 10},
	cVideoLink:              {name: "video_link", typ: tURL},
	cModel3DLink:            {name: "model_3d_link", typ: tURL},
	cCondition:              {name: "condition", typ: tEnum, enum: enumCondition},
	cGoogleProductCategory:  {name: "google_product_category", typ: tText},
	cProductCategory:        {name: "product_category", typ: tText},
	cAgeGroup:               {name: "age_group", typ: tEnum, enum: enumAgeGroup},
	cMaterial:               {name: "material", typ: tText, max: 100},
	cLength:                 {name: "length", typ: tDimension},
	cWidth:                  {name: "width", typ: tDimension},
	cHeight:                 {name: "height", typ: tDimension},
	cWeight:                 {name: "weight", typ: tWeight},
	cItemGroupID:            {name: "item_group_id", typ: tText, max: 70},
	cItemGroupTitle:         {name: "item_group_title", typ: tText, max: 150},
	cColor:                  {name: "color", typ: tText, max: 100},
	cSize:                   {name: "size", typ: tText, max: 20},
	cSizeSystem:             {name: "size_system", typ: tCountry},
	cGender:                 {name: "gender", typ: tEnum, enum: enumGender},
	cOptName1:               {name: "custom_variant_option_name_1", typ: tText},
	cOptValue1:              {name: "custom_variant_option_value_1", typ: tText},
	cOptName2:               {name: "custom_variant_option_name_2", typ: tText},
	cOptValue2:              {name: "custom_variant_option_value_2", typ: tText},
	cOptName3:               {name: "custom_variant_option_name_3", typ: tText},
	cOptValue3:              {name: "custom_variant_option_value_3", typ: tText},
	cAvailability:           {name: "availability", typ: tEnum, enum: enumAvailability},
	cAvailabilityDate:       {name: "availability_date", typ: tDate},
	cExpirationDate:         {name: "expiration_date", typ: tDate},
	cInventoryNotTracked:    {name: "inventory_not_tracked", typ: tBool},
	cInventoryQuantity:      {name: "inventory_quantity", typ: tUint},
	cPrice:                  {name: "price", typ: tMoney},
	cSalePrice:              {name: "sale_price", typ: tMoney},
	cSalePriceEffectiveDate: {name: "sale_price_effective_date", typ: tDateRange},
	cStripeProductTaxCode:   {name: "stripe_product_tax_code", typ: tTaxCode},
	cThirdPartyTaxCode:      {name: "third_party_tax_code", typ: tThirdPartyTax, max: 120},
	cTaxBehavior:            {name: "tax_behavior", typ: tEnum, enum: enumTaxBehavior},
	cApplicableFees:         {name: "applicable_fees", typ: tFees},
	cShipping:               {name: "shipping", typ: tShipping},
	cShippingCostBasis:      {name: "shipping_cost_basis", typ: tEnum, enum: enumCostBasis},
	cFreeShippingThreshold:  {name: "free_shipping_threshold", typ: tFreeShipping},
	cPopularityScore:        {name: "popularity_score", typ: tNumber, lo: "0", hi: "5"},
	cReturnRate:             {name: "return_rate", typ: tNumber, lo: "0", hi: "100"},
	cProductReviewCount:     {name: "product_review_count", typ: tUint},
	cProductReviewRating:    {name: "product_review_rating", typ: tNumber, lo: "1", hi: "5"},
	cRelatedProducts:        {name: "related_products", typ: tRelated, max: 10},
	cProductWarning:         {name: "product_warning", typ: tWarning, max: 1000},
	cAgeRestriction:         {name: "age_restriction", typ: tUint},
	cCustomLabel0:           {name: "custom_label_0", typ: tText, max: 100},
	cCustomLabel1:           {name: "custom_label_1", typ: tText, max: 100},
	cCustomLabel2:           {name: "custom_label_2", typ: tText, max: 100},
	cCustomLabel3:           {name: "custom_label_3", typ: tText, max: 100},
	cCustomLabel4:           {name: "custom_label_4", typ: tText, max: 100},
	cDelete:                 {name: "delete", typ: tBool},
	cDisableCheckout:        {name: "disable_checkout", typ: tBool},
}

// kindCols lists the columns of each feed kind in spec order.
var kindCols = [...][]col{
	Product:   allCols(),
	Inventory: {cID, cAvailability, cAvailabilityDate, cInventoryQuantity},
	Price:     {cID, cPrice, cSalePrice, cSalePriceEffectiveDate},
}

// kindRequired lists the columns a header must contain. For the product feed
// a header that contains `delete` only needs `id` (a deletion feed).
var kindRequired = [...][]col{
	Product:   {cID, cTitle, cDescription, cLink, cImageLink, cAvailability, cPrice},
	Inventory: {cID, cAvailability, cInventoryQuantity},
	Price:     {cID, cPrice},
}

func allCols() []col {
	cs := make([]col, numCols)
	for i := range cs {
		cs[i] = col(i)
	}
	return cs
}

func init() {
	for i := range colDefs {
		switch colDefs[i].typ {
		case tText, tID, tURL, tURLList, tThirdPartyTax, tShipping, tFees, tFreeShipping, tRelated, tWarning:
			colDefs[i].freeText = true
		}
		colDefs[i].pure = colDefs[i].typ != tRelated && colDefs[i].typ != tFreeShipping
		switch colDefs[i].typ {
		case tEnum, tBool, tMoney, tDimension, tWeight, tDate, tDateRange, tUint, tNumber, tGTIN, tCountry, tTaxCode:
			colDefs[i].plain = true
		}
	}
}

var colByName = func() map[string]col {
	m := make(map[string]col, numCols)
	for i, d := range colDefs {
		m[d.name] = col(i)
	}
	return m
}()

// Columns returns every spec column of the feed kind, in spec order. The
// slice is a fresh copy. It returns nil for an invalid kind.
func Columns(k Kind) []string {
	if !k.valid() {
		return nil
	}
	return colNames(kindCols[k])
}

// RequiredColumns returns the columns every feed of kind k must carry in its
// header (values may still be conditionally required per row; see Check).
func RequiredColumns(k Kind) []string {
	if !k.valid() {
		return nil
	}
	return colNames(kindRequired[k])
}

// colNames returns the names of cs, in a fresh slice.
func colNames(cs []col) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = colDefs[c].name
	}
	return out
}

// inKind reports whether column c belongs to the feed kind.
func inKind(k Kind, c col) bool {
	if k == Product {
		return true
	}
	for _, x := range kindCols[k] {
		if x == c {
			return true
		}
	}
	return false
}
