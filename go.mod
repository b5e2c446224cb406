module softphone

go 1.26.7

require github.com/coder/websocket v1.8.15
