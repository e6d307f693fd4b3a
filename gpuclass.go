package procurebot

import "strings"

// gpuClasses are the GPU classes offers are normalised to, most specific
// first so that "GH200" is not read as "H200" nor "A100" as "A10".
var gpuClasses = []string{
	"QUADRORTX6000", "QRTX6000", // Turing cards, not the RTX 6000 Ada below
	"A1000", "A2000", "A4500", // workstation cards, not the A100/A10
	"GH200", "GB200", "B200", "B300", "H200", "H100", "H800", "A100", "A800",
	"MI355X", "MI325X", "MI300X", "L40S", "L40", "L4", "A6000", "A5000", "A4000",
	"A40", "A30", "A10G", "A10", "V100", "T4", "RTX5090", "RTX4090", "RTX3090", "RTX6000",
}

var gpuNameCleaner = strings.NewReplacer(" ", "", "_", "", "-", "", "NVIDIA", "", "AMD", "", "INSTINCT", "")

// GPUClassOf maps a venue's GPU name to the class names of the recorded
// history (DESIGN §5: H100, H200, A100, MI300X…): "NVIDIA H100 80GB HBM3",
// "H100 SXM", "1x H100 SXM5 80GB", "gpu_8x_h100_sxm5" and "h100i" are all
// H100; "RTX 4090" is RTX4090; "RTX 6000 Ada" is RTX6000 but "Quadro RTX 6000" is QRTX6000, and
// "RTX A1000" is A1000, not A100. It returns the
// first name that yields a class, or "" when none does.
func GPUClassOf(names ...string) string {
	for _, n := range names {
		s := gpuNameCleaner.Replace(strings.ToUpper(n))
		for _, c := range gpuClasses {
			if strings.Contains(s, c) {
				if c == "QUADRORTX6000" {
					return "QRTX6000"
				}
				return c
			}
		}
	}
	return ""
}
