module softphone

go 1.26.7
