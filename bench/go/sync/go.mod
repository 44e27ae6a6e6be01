module tether.bench/sync

go 1.27
