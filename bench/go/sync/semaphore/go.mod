module tether.bench/sync/semaphore

go 1.27

require golang.org/x/sync v0.0.0

// No module proxy here: use the x/sync that ships vendored inside the Go
// toolchain bench/run installs (xsync/semaphore is a symlink into it).
replace golang.org/x/sync => ./xsync
