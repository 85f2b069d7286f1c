import Foundation
import Testing
import TestSupport

@Suite struct CustomerCommandTests {
    @Test(arguments: Backend.allCases) func importAddsThenUpdates(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let first = try cli.run("customers", "import", fixture("customers.json"))
        #expect(first.status == 0, "\(first)")
        #expect(first.stdout == "4 added, 0 updated\n")
        let second = try cli.run("customers", "import", fixture("customers.json"))
        #expect(second.stdout == "0 added, 4 updated\n")
    }

    @Test(arguments: Backend.allCases) func listAsTableAndJSON(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try #require(try cli.run("customers", "import", fixture("customers.json")).status == 0)
        let table = try cli.run("customers", "list")
        #expect(table.status == 0, "\(table)")
        #expect(table.stdout == """
            CUSTOMER  NAME           EMAIL                    CURRENCY  COUNTRY  TAX      SUBJECT KEYS
            acme      Acme Corp      billing@acme.example     USD       US       none     acme_prod, acme_staging
            globex    Globex GmbH    ap@globex.example        EUR       DE       reverse  globex
            initech   Initech, Inc.  finance@initech.example  USD       US       exempt   initech
            umbrella  Umbrella KK    keiri@umbrella.example   JPY       JP       none     umbrella

            """)

        let json = try cli.run("customers", "list", "--format", "json")
        let customers = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        #expect(customers.map { $0["key"] as? String } == ["acme", "globex", "initech", "umbrella"])
        let globex = customers[1]
        #expect(globex["taxExempt"] as? String == "reverse")
        #expect((globex["taxIds"] as? [[String: String]]) == [["type": "eu_vat", "value": "DE123456789"]])
        #expect((customers[0]["usageAttribution"] as? [String: [String]])?["subjectKeys"] == ["acme_prod", "acme_staging"])

        // The JSON list is the import format: it imports back as updates of the same customers.
        let file = try cli.write("roundtrip.json", json.stdout)
        let again = try cli.run("customers", "import", file)
        #expect(again.stdout == "0 added, 4 updated\n", "\(again)")
        #expect(try cli.run("customers", "list").stdout == table.stdout)
    }

    @Test(arguments: Backend.allCases) func aSubjectKeyOfAnotherCustomerIsRefused(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try #require(try cli.run("customers", "import", fixture("customers.json")).status == 0)
        let file = try cli.write("thief.json", """
            [{"key": "thief", "name": "Thief", "usageAttribution": {"subjectKeys": ["acme_prod"]}}]
            """)
        let outcome = try cli.run("customers", "import", file)
        #expect(outcome.status == 2)
        #expect(outcome.stderr == "error: customer thief: subject key acme_prod already belongs to customer acme\n")
    }

    @Test(arguments: Backend.allCases) func anInvalidFileListsItsProblems(_ backend: Backend) throws {
        let cli = try CLI(backend)
        let file = try cli.write("bad.json", """
            [{"key": "Bad Key", "name": "x"}, {"name": "no key", "currency": "XYZ"}]
            """)
        let outcome = try cli.run("customers", "import", file)
        #expect(outcome.status == 2)
        let errors = lines(outcome.stderr)
        #expect(errors.first == "error: \(file) has 3 problems:")
        #expect(errors.count == 4)
    }

    @Test(arguments: Backend.allCases) func paymentAndPortalLinksNeedStripe(_ backend: Backend) throws {
        let cli = try CLI(backend)
        try #require(try cli.run("customers", "import", fixture("customers.json")).status == 0)
        for command in ["payment-link", "portal-link"] {
            let outcome = try cli.run("customers", command, "acme")
            #expect(outcome.status == 1)
            #expect(outcome.stdout == "")
            #expect(outcome.stderr == "error: Stripe is not connected: run `tollbooth stripe connect` first\n")
            let help = try cli.run("customers", command, "--help")
            #expect(help.status == 0)
            #expect(help.stdout.contains("USAGE: tollbooth customers \(command)"))
        }
        let unknown = try cli.run("customers", "payment-link", "nobody")
        #expect(unknown.status == 2)
        #expect(unknown.stderr == "error: no customer nobody: import it with `tollbooth customers import`\n")
    }
}
