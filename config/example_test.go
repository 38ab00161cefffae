package config_test

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/gantry-go/gantry/config"
)

// Settings is what a service's main would define, usually embedding the settings
// structs of the packages it uses.
type Settings struct {
	Addr     string        `env:"HTTP_ADDR" envDefault:":8080" desc:"Listen address."`
	Timeout  time.Duration `env:"HTTP_READ_TIMEOUT" envDefault:"5s" desc:"Read timeout."`
	DBPasswd string        `env:"DB_PASSWORD" secret:"true" desc:"Database password."`
}

// Validate names each bad variable with config.Invalid.
func (s Settings) Validate() error {
	if s.Timeout <= 0 {
		return config.Invalid("HTTP_READ_TIMEOUT", "must be positive")
	}
	return nil
}

func ExampleLoad() {
	// Real code passes no option and reads the process environment.
	env := map[string]string{"HTTP_ADDR": ":9000", "DB_PASSWORD": "hunter2"}
	cfg, err := config.Load[Settings](config.WithEnvironment(env))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cfg.Addr, cfg.Timeout)
	// Output: :9000 5s
}

func ExampleLoad_errors() {
	env := map[string]string{"HTTP_READ_TIMEOUT": "abc", "DB_PASSWORD_FILE": "/nonexistent/secret"}
	_, err := config.Load[Settings](config.WithEnvironment(env))
	var cerr *config.Error
	if errors.As(err, &cerr) {
		fmt.Println(cerr.Vars())
	}
	// Output: [DB_PASSWORD_FILE HTTP_READ_TIMEOUT]
}

func ExampleLoad_secretFile() {
	f, _ := os.CreateTemp("", "secret")
	defer os.Remove(f.Name())
	f.WriteString("hunter2\n")
	f.Close()

	cfg, err := config.Load[Settings](config.WithEnvironment(map[string]string{"DB_PASSWORD_FILE": f.Name()}))
	fmt.Println(cfg.DBPasswd, err)
	// Output: hunter2 <nil>
}

func ExampleDescribe() {
	cfg, _ := config.Load[Settings](config.WithEnvironment(map[string]string{"DB_PASSWORD": "hunter2"}))
	d, _ := config.Describe(cfg)
	// d can be logged too: logger.Info("config", "config", d).
	fmt.Print(d)
	// Output:
	// HTTP_ADDR=:8080
	// HTTP_READ_TIMEOUT=5s
	// DB_PASSWORD=[redacted]
}

func ExampleInvalid() {
	err := config.Invalid("HTTP_PORT", "must be in 1..65535, got %d", 70000)
	fmt.Println(err)
	// Output: HTTP_PORT: must be in 1..65535, got 70000
}

func ExampleDump_Markdown() {
	d, _ := config.Describe(Settings{})
	d.Markdown(os.Stdout)
	// Output:
	// | Variable | Default | Description |
	// |---|---|---|
	// | `HTTP_ADDR` | `:8080` | Listen address. |
	// | `HTTP_READ_TIMEOUT` | `5s` | Read timeout. |
	// | `DB_PASSWORD` |  | Database password. Secret: never logged; may be read from the file named by `DB_PASSWORD_FILE`. |
}

func ExampleWithPrefix() {
	type HTTP struct {
		Port int `env:"HTTP_PORT" envDefault:"8080"`
	}
	cfg, err := config.Load[HTTP](config.WithPrefix("ADMIN_"), config.WithEnvironment(map[string]string{"ADMIN_HTTP_PORT": "9090"}))
	fmt.Println(cfg.Port, err)
	// Output: 9090 <nil>
}

func ExampleWithEnvironment() {
	type Log struct {
		Level string `env:"LOG_LEVEL" envDefault:"info"`
	}
	// Tests pass the environment instead of calling os.Setenv.
	cfg, _ := config.Load[Log](config.WithEnvironment(map[string]string{"LOG_LEVEL": "debug"}))
	fmt.Println(cfg.Level)
	// Output: debug
}

func ExampleValidate() {
	// A constructor taking settings built in code checks them as Load would,
	// nested structs and their prefixes included.
	type Admin struct {
		HTTP Settings `envPrefix:"ADMIN_"`
	}
	err := config.Validate(Admin{HTTP: Settings{Timeout: -time.Second}})
	fmt.Println(err)
	// Output: config: invalid configuration (1 problem): ADMIN_HTTP_READ_TIMEOUT: must be positive
}
