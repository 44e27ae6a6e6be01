module tether.bench/group

go 1.27
