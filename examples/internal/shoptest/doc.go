// Package shoptest starts the example shop's services in-process on loopback for
// tests, and injects faults into their HTTP traffic.
package shoptest
