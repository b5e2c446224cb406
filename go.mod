module softphone

go 1.26.7

require (
	github.com/gen2brain/malgo v0.11.24
	gopkg.in/hraban/opus.v2 v2.0.0-20230925203106-0188a62cb302
)
