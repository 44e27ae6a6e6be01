module tether.bench/chan

go 1.27
