module github.com/tscale/engine

go 1.26
