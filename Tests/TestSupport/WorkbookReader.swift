import Foundation

/// Reads xlsx files with openpyxl, a reader independent of libxlsxwriter, through
/// `read_workbook.py`. openpyxl lives in a virtual environment under the system temp folder,
/// made on first use in a test run and reused while it imports openpyxl (a fresh Debian refuses
/// system-wide pip, PEP 668; `scripts/setup.sh` installs python3-venv).
public enum WorkbookReader {
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// A workbook as the script prints it: `sheets` (name, freeze, filter, widths, rows of cells),
    /// `charts` (part, kinds, references) and `drawings`.
    public static func read(_ path: String) throws -> [String: Any] {
        let python = try environment.get()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("read_workbook.py").path
        let result = try run(python, [script, path])
        guard result.status == 0 else { throw Failure(message: "read_workbook.py failed on \(path): \(result.stderr)") }
        guard let json = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] else {
            throw Failure(message: "read_workbook.py printed no JSON object")
        }
        return json
    }

    /// The virtual environment's python, made once per process.
    static let environment: Result<String, Failure> = {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tollbooth-openpyxl-venv").path
        let python = folder + "/bin/python"
        if let check = try? run(python, ["-c", "import openpyxl"]), check.status == 0 { return .success(python) }
        // Built under a name of its own and renamed into place, so an interrupted set-up or a
        // parallel test run never leaves a half-made environment at the shared path.
        let building = folder + ".\(getpid())"
        try? FileManager.default.removeItem(atPath: building)
        do {
            let venv = try run("/usr/bin/env", ["python3", "-m", "venv", building])
            guard venv.status == 0 else {
                return .failure(Failure(message: "python3 -m venv failed (run scripts/setup.sh to install python3-venv): \(venv.stderr)"))
            }
            let pip = try run(building + "/bin/python", ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "openpyxl"])
            guard pip.status == 0 else { return .failure(Failure(message: "pip install openpyxl failed: \(pip.stderr)")) }
            try? FileManager.default.removeItem(atPath: folder)
            if (try? FileManager.default.moveItem(atPath: building, toPath: folder)) == nil {
                try? FileManager.default.removeItem(atPath: building)
            }
            return .success(python)
        } catch {
            return .failure(Failure(message: "cannot set up openpyxl: \(error)"))
        }
    }()

    static func run(_ executable: String, _ arguments: [String], in directory: URL? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        let folder = FileManager.default.temporaryDirectory
        let out = folder.appendingPathComponent("workbook-reader-\(UUID().uuidString).out")
        let err = folder.appendingPathComponent("workbook-reader-\(UUID().uuidString).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: out)
            try? FileManager.default.removeItem(at: err)
        }
        let outHandle = try FileHandle(forWritingTo: out), errHandle = try FileHandle(forWritingTo: err)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = outHandle
        process.standardError = errHandle
        process.standardInput = FileHandle.nullDevice
        if let directory { process.currentDirectoryURL = directory }
        try process.spawn()
        process.waitUntilExit()
        try outHandle.close()
        try errHandle.close()
        return (process.terminationStatus, String(decoding: try Data(contentsOf: out), as: UTF8.self),
                String(decoding: try Data(contentsOf: err), as: UTF8.self))
    }
}

/// A workbook read by `WorkbookReader`, with typed access for assertions.
public struct ReadWorkbook {
    public let json: [String: Any]

    public init(path: String) throws {
        json = try WorkbookReader.read(path)
    }

    public var sheetNames: [String] { sheets.compactMap { $0["name"] as? String } }
    public var sheets: [[String: Any]] { json["sheets"] as? [[String: Any]] ?? [] }
    public var charts: [[String: Any]] { json["charts"] as? [[String: Any]] ?? [] }

    public func sheet(_ name: String) -> [String: Any]? { sheets.first { $0["name"] as? String == name } }

    /// The sheet's rows; a cell is nil when empty, else a dictionary with `type` (text, number,
    /// date, formula) and `value` / `formula`, `cached`, `format`.
    public func rows(_ name: String) -> [[[String: Any]?]] {
        (sheet(name)?["rows"] as? [[Any]] ?? []).map { $0.map { $0 as? [String: Any] } }
    }

    public func header(_ name: String) -> [String] { rows(name).first?.map { $0?["value"] as? String ?? "" } ?? [] }
}
