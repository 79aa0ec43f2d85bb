// referrers-registry serves go-containerregistry's in-memory registry with its OCI 1.1
// referrers API switched on, over TLS: the test suite's registry that answers
// GET /v2/<name>/referrers/<digest> (Debian's docker-registry, distribution 2.8, does not).
// `crane registry serve` runs the same registry with referrers off and without TLS.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"

	"github.com/google/go-containerregistry/pkg/registry"
)

const version = "referrers-registry go-containerregistry v0.22.1"

func main() {
	address := flag.String("address", "127.0.0.1:0", "address to listen on")
	certFile := flag.String("tls-cert", "", "PEM certificate chain to serve")
	keyFile := flag.String("tls-key", "", "PEM private key of the certificate")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println(version)
		return
	}
	if *certFile == "" || *keyFile == "" {
		log.Fatal("--tls-cert and --tls-key are required: the proxy only speaks TLS to registries")
	}
	listener, err := net.Listen("tcp", *address)
	if err != nil {
		log.Fatal(err)
	}
	// The chosen address on stdout, one line, for the launcher to read.
	fmt.Fprintf(os.Stdout, "listening on %s\n", listener.Addr())
	handler := registry.New(registry.WithReferrersSupport(true), registry.Logger(log.New(os.Stderr, "", log.LstdFlags)))
	log.Fatal(http.ServeTLS(listener, handler, *certFile, *keyFile))
}
