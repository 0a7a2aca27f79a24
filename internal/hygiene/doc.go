// Package hygiene holds repository-wide tests that enforce the project's
// rules as code: formatting, package documentation, file sizes and the
// dependency direction of ARCHITECTURE.md (pure wire codecs import nothing of
// ours but addr). It has no production code.
package hygiene
