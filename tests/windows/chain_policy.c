/*
 * Shows what the Windows certificate API answers for fwasr's test certificates, asked exactly
 * as the schannel crate under native-tls asks it after a handshake: CertGetCertificateChain
 * with the chain's extra store (the CA file's certificates), revocation from the cache only
 * and not for the root, then CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL) with
 * CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS, plus ..._ALLOW_UNKNOWN_CA_FLAG when a chain
 * certificate is in the extra store, and the host name.
 *
 *   chain_policy CERT.crt HOST [CA.crt]
 *
 * Prints "chain 0x<TrustStatus.dwErrorStatus> policy 0x<dwError>". scripts/windows-tests.sh
 * runs it under Wine for the cases the TLS tests skip there, so the skip rests on what Wine's
 * crypt32 does, not on fwasr.
 */
#include <windows.h>
#include <wincrypt.h>

#include <stdio.h>
#include <stdlib.h>

static const CERT_CONTEXT *load(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) { perror(path); exit(2); }
    static char pem[16384];
    size_t n = fread(pem, 1, sizeof pem - 1, f);
    fclose(f);
    BYTE der[8192];
    DWORD len = sizeof der;
    if (!CryptStringToBinaryA(pem, (DWORD)n, CRYPT_STRING_BASE64HEADER, der, &len, NULL, NULL)) {
        fprintf(stderr, "%s: not PEM\n", path);
        exit(2);
    }
    const CERT_CONTEXT *c = CertCreateCertificateContext(X509_ASN_ENCODING, der, len);
    if (!c) { fprintf(stderr, "%s: not a certificate\n", path); exit(2); }
    return c;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: chain_policy CERT.crt HOST [CA.crt]\n");
        return 2;
    }
    const CERT_CONTEXT *leaf = load(argv[1]);
    HCERTSTORE extra = CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, 0, NULL);
    const CERT_CONTEXT *ca = NULL;
    if (argc > 3) {
        ca = load(argv[3]);
        CertAddCertificateContextToStore(extra, ca, CERT_STORE_ADD_REPLACE_EXISTING, NULL);
    }

    LPSTR usages[] = {szOID_PKIX_KP_SERVER_AUTH, szOID_SERVER_GATED_CRYPTO, szOID_SGC_NETSCAPE};
    CERT_CHAIN_PARA para = {0};
    para.cbSize = sizeof para;
    para.RequestedUsage.dwType = USAGE_MATCH_TYPE_OR;
    para.RequestedUsage.Usage.cUsageIdentifier = 3;
    para.RequestedUsage.Usage.rgpszUsageIdentifier = usages;
    const CERT_CHAIN_CONTEXT *chain = NULL;
    DWORD flags = CERT_CHAIN_CACHE_END_CERT | CERT_CHAIN_REVOCATION_CHECK_CACHE_ONLY |
                  CERT_CHAIN_REVOCATION_CHECK_CHAIN_EXCLUDE_ROOT;
    if (!CertGetCertificateChain(NULL, leaf, NULL, extra, &para, flags, NULL, &chain)) {
        fprintf(stderr, "CertGetCertificateChain failed: 0x%08lx\n", (unsigned long)GetLastError());
        return 1;
    }

    DWORD policy_flags = CERT_CHAIN_POLICY_IGNORE_ALL_REV_UNKNOWN_FLAGS;
    if (ca) {
        const CERT_SIMPLE_CHAIN *last = chain->rgpChain[chain->cChain - 1];
        for (DWORD i = 0; i < last->cElement; i++)
            if (CertCompareCertificate(X509_ASN_ENCODING, last->rgpElement[i]->pCertContext->pCertInfo,
                                       ca->pCertInfo))
                policy_flags |= CERT_CHAIN_POLICY_ALLOW_UNKNOWN_CA_FLAG;
    }
    WCHAR host[256];
    MultiByteToWideChar(CP_UTF8, 0, argv[2], -1, host, 256);
    HTTPSPolicyCallbackData https = {0};
    https.cbStruct = sizeof https;
    https.dwAuthType = AUTHTYPE_SERVER;
    https.pwszServerName = host;
    CERT_CHAIN_POLICY_PARA policy = {0};
    policy.cbSize = sizeof policy;
    policy.dwFlags = policy_flags;
    policy.pvExtraPolicyPara = &https;
    CERT_CHAIN_POLICY_STATUS status = {0};
    status.cbSize = sizeof status;
    if (!CertVerifyCertificateChainPolicy(CERT_CHAIN_POLICY_SSL, chain, &policy, &status)) {
        fprintf(stderr, "CertVerifyCertificateChainPolicy failed: 0x%08lx\n", (unsigned long)GetLastError());
        return 1;
    }
    printf("chain 0x%08lx policy 0x%08lx\n", (unsigned long)chain->TrustStatus.dwErrorStatus,
           (unsigned long)status.dwError);
    return 0;
}
