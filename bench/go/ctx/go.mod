module tether.bench/ctx

go 1.27
