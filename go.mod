module github.com/hrmd/hrmd

go 1.26.8

require (
	github.com/yalue/onnxruntime_go v1.27.0 // indirect
	go.uber.org/multierr v1.10.0 // indirect
	go.uber.org/zap v1.28.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
