// Package httpx holds HTTP plumbing shared by Gantry's transport and observability
// packages, which sit on the same layer and may not import each other.
package httpx
