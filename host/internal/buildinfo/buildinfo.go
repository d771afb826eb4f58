// Package buildinfo carries the version stamped in by the Makefile.
package buildinfo

// Version is set with -ldflags "-X .../buildinfo.Version=...".
var Version = "dev"
