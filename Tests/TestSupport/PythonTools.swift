import Foundation

/// Tools the end-to-end tests run beside the product: Python packages from PyPI in a virtual
/// environment (a fresh Debian refuses system-wide pip, PEP 668), Debian packages installed
/// with apt when missing (as `scripts/setup.sh` does), and the Python helpers in this folder.
public enum PythonTools {
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    /// A helper script of this folder (`measure_chart.py`).
    public static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(name).path
    }

    /// The folder of a virtual environment under the system temp folder with `packages`
    /// installed, made on first use and reused while `probe` (Python code) runs in it. Built
    /// under a name of its own and renamed into place, so an interrupted set-up never leaves a
    /// half-made environment at the shared path.
    public static func environment(_ name: String, packages: [String], probe: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent(name).path
        if let check = try? WorkbookReader.run(folder + "/bin/python", ["-c", probe]), check.status == 0 { return folder }
        let building = folder + ".\(getpid())"
        try? FileManager.default.removeItem(atPath: building)
        var venv = try WorkbookReader.run("/usr/bin/env", ["python3", "-m", "venv", building])
        if venv.status != 0 {
            try aptInstall("python3-venv")
            venv = try WorkbookReader.run("/usr/bin/env", ["python3", "-m", "venv", building])
        }
        guard venv.status == 0 else { throw Failure(message: "python3 -m venv failed: \(venv.stderr)") }
        let pip = try WorkbookReader.run(building + "/bin/python", ["-m", "pip", "install", "--quiet", "--disable-pip-version-check"] + packages)
        guard pip.status == 0 else { throw Failure(message: "pip install \(packages.joined(separator: " ")) failed: \(pip.stderr)") }
        try? FileManager.default.removeItem(atPath: folder)
        if (try? FileManager.default.moveItem(atPath: building, toPath: folder)) == nil {
            try? FileManager.default.removeItem(atPath: building)
        }
        return folder
    }

    /// The path of `executable`, installing the Debian `package` that provides it when it is
    /// missing (root, or sudo without a password).
    public static func debianExecutable(_ executable: String, package: String) throws -> String {
        lock.lock()
        defer { lock.unlock() }
        let path = "/usr/bin/" + executable
        if FileManager.default.isExecutableFile(atPath: path) { return path }
        try aptInstall(package)
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw Failure(message: "\(package) was installed but \(path) is missing; run scripts/setup.sh")
        }
        return path
    }

    private static let lock = NSRecursiveLock()

    private static func aptInstall(_ package: String) throws {
        let sudo = getuid() == 0 ? [] : ["sudo", "-n"]
        let command = sudo + ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "-qq", package]
        if try WorkbookReader.run("/usr/bin/env", command).status == 0 { return }
        _ = try WorkbookReader.run("/usr/bin/env", sudo + ["apt-get", "update", "-qq"])
        let retry = try WorkbookReader.run("/usr/bin/env", command)
        guard retry.status == 0 else { throw Failure(message: "apt-get install \(package) failed (run scripts/setup.sh): \(retry.stderr)") }
    }

    /// Runs a program to its end, in `directory` if given (tools that leave caches in their working
    /// folder): its status and output.
    public static func run(_ executable: String, _ arguments: [String], in directory: URL? = nil) throws -> (status: Int32, stdout: String, stderr: String) {
        try WorkbookReader.run(executable, arguments, in: directory)
    }
}
