package emulator

import (
	"net/http"
	"net/url"
	"strings"
)

// paginate cuts one page out of items (already in list order, newest first
// for most resources) following Stripe's limit / starting_after /
// ending_before rules.
func paginate(f url.Values, items []map[string]any, what, listURL string) (map[string]any, *apiError) {
	limit := int64(10)
	if n, sent, a := formInt(f, "limit"); a != nil {
		return nil, a
	} else if sent {
		if n < 1 || n > 100 {
			return nil, badParam("limit", "Invalid limit: must be between 1 and 100 (got %d).", n)
		}
		limit = n
	}
	after, hasAfter := formGet(f, "starting_after")
	before, hasBefore := formGet(f, "ending_before")
	hasAfter = hasAfter && after != ""
	hasBefore = hasBefore && before != ""
	if hasAfter && hasBefore {
		return nil, badParam("ending_before", "You may only specify one of these parameters: ending_before, starting_after.")
	}
	index := func(id string) int {
		for i, it := range items {
			if it["id"] == id {
				return i
			}
		}
		return -1
	}
	var page []map[string]any
	hasMore := false
	switch {
	case hasAfter:
		i := index(after)
		if i < 0 {
			return nil, noSuch(http.StatusNotFound, what, after, "starting_after")
		}
		rest := items[i+1:]
		if int64(len(rest)) > limit {
			rest, hasMore = rest[:limit], true
		}
		page = rest
	case hasBefore:
		i := index(before)
		if i < 0 {
			return nil, noSuch(http.StatusNotFound, what, before, "ending_before")
		}
		rest := items[:i]
		if int64(len(rest)) > limit {
			rest, hasMore = rest[int64(len(rest))-limit:], true
		}
		page = rest
	default:
		page = items
		if int64(len(page)) > limit {
			page, hasMore = page[:limit], true
		}
	}
	data := make([]any, len(page))
	for i, p := range page {
		data[i] = p
	}
	return map[string]any{"object": "list", "data": data, "has_more": hasMore, "url": listURL}, nil
}

// listExpand splits a list request's expand[] into per-item paths ("data.x"
// -> "x").
func listExpand(f url.Values) ([]string, *apiError) {
	var out []string
	for _, p := range formList(f, "expand") {
		rest, ok := strings.CutPrefix(p, "data.")
		if !ok {
			return nil, badParam("expand", "This property cannot be expanded (%s). You may want to try expanding 'data.%s' instead.", p, p)
		}
		out = append(out, rest)
	}
	return out, nil
}
