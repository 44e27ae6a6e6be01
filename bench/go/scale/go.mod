module tether.bench/scale

go 1.27
