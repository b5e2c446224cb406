// Package tui is the terminal phone: one Bubble Tea v2 program that shows who
// is calling, places and answers calls by keyboard, and draws live volume
// meters and network quality for everyone in the call.
//
// The program consumes the engine through the small Phone interface defined
// here (a consumer-side interface: *engine.Engine satisfies it as is). Engine
// events are plain structs from package engine; one bridge goroutine forwards
// them into the program as messages, and the model routes them by call state.
// Update never blocks and never does I/O: every engine action runs as a
// tea.Cmd and comes back as a typed result message, so a slow engine never
// freezes the keys or the meters.
//
// Run is the entry point for main.
package tui
