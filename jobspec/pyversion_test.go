package jobspec

import "testing"

func TestPythonSpec(t *testing.T) {
	cases := []struct {
		spec    string
		allowed []string
		refused []string
	}{
		{"3.11", []string{"3.11", "3.11.2", "3.11.9"}, []string{"3.10", "3.12", "3.1"}},
		{"3.11.4", []string{"3.11.4", "3.11"}, []string{"3.11.2", "3.12"}},
		{">=3.8", []string{"3.8", "3.11.2", "3.13"}, []string{"3.7", "3.7.9"}},
		{">=3.9,<3.12", []string{"3.9", "3.11.2"}, []string{"3.12", "3.12.0", "3.8"}},
		{"~=3.10", []string{"3.10", "3.13"}, []string{"3.9", "4.0"}},
		{"~=3.10.2", []string{"3.10.5", "3.10"}, []string{"3.11", "3.10.1"}},
		{"==3.11.*", []string{"3.11", "3.11.0"}, []string{"3.12"}},
		{"!=3.12.*,>=3.10", []string{"3.10", "3.11", "3.13"}, []string{"3.12", "3.12.1"}},
		{">3.11", []string{"3.11", "3.11.1", "3.12"}, []string{"3.11.0", "3.10"}},
		{"<3.11.3", []string{"3.11", "3.11.2", "3.10"}, []string{"3.11.3", "3.12"}},
	}
	for _, tc := range cases {
		p, err := ParsePythonSpec(tc.spec)
		if err != nil {
			t.Fatalf("%s: %v", tc.spec, err)
		}
		for _, v := range tc.allowed {
			if !p.Allows(v) {
				t.Errorf("%s refuses %s", tc.spec, v)
			}
		}
		for _, v := range tc.refused {
			if p.Allows(v) {
				t.Errorf("%s allows %s", tc.spec, v)
			}
		}
	}
	for _, bad := range []string{"", "three", ">=3.x", ">=3.10.*", "~=3", "3.11; rm -rf /", ">= 3.10 <3.12"} {
		if _, err := ParsePythonSpec(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
