module tether.bench/pool

go 1.27
