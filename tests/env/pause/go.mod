// The Pod sandbox ("pause") process for the node stage: no registry is reachable here to pull
// registry.k8s.io/pause, so node-install.sh builds this one into a local image.
module kto-test-env/pause

go 1.26.0
