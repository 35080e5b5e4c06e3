// Package systems starts the systems that engram-bench compares — a local
// redis-server, a local PostgreSQL, engramd (from an engramd binary), the
// engine in-process — each fresh, on
// 127.0.0.1 with its own temporary data directory, and measures what they use:
// memory (proportional set size of the server's process tree) and disk (blocks
// allocated under its data directory).
//
// It belongs to the drivers room: it makes no load itself, but it is how a
// comparison (and the redis and postgres driver tests) gets a real server to
// drive. In: [Options] (where to put data, durability, binaries). Out: a
// [System] with the address a driver connects to, the process to measure and
// the data directory; Stop shuts the server down and removes its data.
//
// # Running as root
//
// PostgreSQL refuses to run as root. When the harness runs as root (CI, our
// containers), initdb and postgres run as the "postgres" user that Debian's
// postgresql package creates (Options.PostgresUser overrides it), with the
// data directory chowned to that user; its parent directories must be
// traversable by that user, which the default (a fresh directory under
// os.TempDir) is. redis-server runs as the current user either way.
//
// # Durability
//
// Servers are started durable like the engine: redis-server with
// appendonly yes and appendfsync always, PostgreSQL with fsync and
// synchronous_commit on. Options.NoSync relaxes all of them the way
// --no-sync relaxes the engine (appendfsync everysec, synchronous_commit off).
//
// Concurrency: a System is safe for concurrent use; Stop is idempotent.
// Launchers are registered in init and looked up read-only afterwards.
//
// Adding a launcher: write Start(ctx, Options) (*System, error) that picks a
// free loopback port, starts the server as a child process in a fresh
// directory under Options.TempDir, waits until it answers, and sets
// System.Target, PID, DataDir and a stop function; register it with the
// driver's name in an init function; add a test that starts and stops it.
package systems
