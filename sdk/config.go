package sdk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// Decode unmarshals the config block into v (a pointer to a struct with json
// tags), rejecting unknown keys. Problems are added to resp as field errors
// naming the offending key, so a typo in the host YAML is reported precisely;
// the returned error is non-nil only if resp gained errors.
func (r *ConfigureRequest) Decode(v any, resp *ConfigureResponse) error {
	cfg := bytes.TrimSpace(r.Config)
	if len(cfg) == 0 || bytes.Equal(cfg, []byte("null")) {
		cfg = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(cfg))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, err2 := dec.Token(); err2 != io.EOF {
			resp.AddError("", "trailing data after the config block")
			return errors.New("invalid config")
		}
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		resp.AddError(typeErr.Field, "expected %s, got %s", typeErr.Type.String(), typeErr.Value)
	case errors.As(err, &syntaxErr):
		resp.AddError("", "malformed config: %v", err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		resp.AddError(field, "unknown key")
	default:
		resp.AddError("", "%v", err)
	}
	return errors.New("invalid config")
}
