// Package payment is the example shop's simulated card processor: it charges orders
// exactly once, however often a client retries, and refunds them.
//
// It is laid out as every example service is (CONTRIBUTING.md, rule 27): service.go (domain),
// processor.go (the simulated card network), endpoint.go (go-kit endpoints),
// transport.go (HTTP) and store.go (SQLite ledger).
//
// # Exactly one charge
//
// POST /payments requires an Idempotency-Key header. The key is claimed in the
// database before any work starts (a row in idempotency_keys, state in_flight, with
// a hash of the request), and the payment row and the key's completion (state
// completed, with the response it produced) commit in ONE transaction. So:
//
//   - a replay of a completed key returns the stored response, marked
//     Idempotent-Replayed: true, and charges nothing;
//   - the same key with a different body is 422;
//   - the same key while the first request is still being processed is 409;
//   - a crash after the commit loses only the response: the retry gets the stored one;
//   - a crash before the commit moved no money: the claim expires after
//     Settings.Lease and a retry processes the charge then;
//   - a simulated processor failure happens before money moves: the claim is dropped
//     and the answer is 503 with Retry-After, so a retry with the same key charges.
//
// The lease is measured on the database's clock: the claim's time is written and its
// age computed in SQL (PostgreSQL's clock_timestamp(), SQLite's unixepoch), never
// from the calling process's clock. Replicas whose clocks disagree, or one whose
// clock steps, agree on whether a claim is live, and a live claim is never taken over
// because a replica's clock is ahead.
//
// Two constraints in the schema make a double charge impossible even if the code
// above were wrong: payments.idempotency_key is UNIQUE (one payment per key), and a
// partial UNIQUE index on payments(order_id) WHERE status IN ('captured',
// 'refunded') admits one charge that moved money per order (declined attempts do not
// count).
//
// # Declines
//
// The simulated processor declines every amount whose cents end in 13 (1013, 1313,
// 2513, ...). A declined charge is recorded (status "declined") and answered 402 with
// a problem body of type urn:gantry:problem:payment-declined; its replay is 402 too.
//
// # Replicas
//
// Payment replicas share one ledger by opening the same SQLite file (WAL mode,
// busy_timeout, BEGIN IMMEDIATE). That is correct only on one host with a local file
// system: WAL needs shared memory between the processes, so never put the file on
// NFS or a volume shared between hosts. Beyond one host, use a client-server database
// with the same tables and constraints.
package payment
